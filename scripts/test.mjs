#!/usr/bin/env node
// npm test: finds (or installs) Chromium, then runs every Vitest project: unit (Node), gpu (headless
// Chromium with WebGPU on the real GPU when there is one, SwiftShader otherwise) and e2e.
import { spawnSync } from 'node:child_process';
import { chooseAdapter, ensureChromium } from './browser.mjs';

const chrome = await ensureChromium();
const adapter = chooseAdapter();
console.log(`[spark-lab] Chromium: ${chrome}; WebGPU adapter: ${adapter === 'swiftshader' ? 'SwiftShader (software; no GPU found)' : 'default (real GPU)'}`);
const given = process.argv.slice(2);
// Without --project, the test suite: unit, gpu and e2e (the 'experiments' project runs only when named).
const projects = given.some((a) => a.startsWith('--project')) ? [] : ['--project', 'unit', '--project', 'gpu', '--project', 'e2e'];
const args = ['vitest', 'run', ...projects, ...given];
const r = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, CHROME_PATH: chrome, SPARK_ADAPTER: adapter } });
process.exit(r.status ?? 1);
