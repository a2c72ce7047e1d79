#!/usr/bin/env node
// npm test: finds (or installs) Chromium, then runs every Vitest project: unit (Node), gpu (headless
// Chromium with WebGPU on the real GPU when there is one, SwiftShader otherwise) and e2e.
import { spawnSync } from 'node:child_process';
import { chooseAdapter, ensureChromium } from './browser.mjs';

const chrome = await ensureChromium();
const adapter = chooseAdapter();
console.log(`[spark-lab] Chromium: ${chrome}; WebGPU adapter: ${adapter === 'swiftshader' ? 'SwiftShader (software; no GPU found)' : 'default (real GPU)'}`);
const args = ['vitest', 'run', ...process.argv.slice(2)];
const r = spawnSync('npx', args, { stdio: 'inherit', env: { ...process.env, CHROME_PATH: chrome, SPARK_ADAPTER: adapter } });
process.exit(r.status ?? 1);
