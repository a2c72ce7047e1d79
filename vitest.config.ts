import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
// @ts-expect-error plain ESM helper shared with the bench and regress scripts
import { chooseAdapter, chromiumArgs, findChromium } from './scripts/browser.mjs';

const adapter = chooseAdapter();
const executablePath = (await findChromium()) ?? undefined;

const browserTests = {
  // One page for every file: they share the GPU device and its compiled pipelines (compiles dominate on SwiftShader).
  isolate: false,
  testTimeout: 120_000,
  hookTimeout: 120_000,
  fileParallelism: false,
  browser: {
    enabled: true,
    headless: true,
    screenshotFailures: false,
    provider: playwright({ launchOptions: { executablePath, args: chromiumArgs(adapter) } }),
    instances: [{ browser: 'chromium' as const }],
  },
};

export default defineConfig({
  // Pre-bundle what the browser tests import, so Vite never reloads a test page mid-run to optimise a dependency.
  optimizeDeps: {
    include: [
      'wgsl-preprocessor/wgsl-preprocessor.js',
      'lit',
      '@tensorflow/tfjs-core',
      '@tensorflow/tfjs-backend-webgpu',
      '@tensorflow/tfjs-core/dist/register_all_gradients',
      'uplot',
    ],
  },
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          environment: 'node',
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['tests/e2e/setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // After the other projects, alone: the page tests bound main-thread long tasks and the regress runs
          // check speed, and Vitest runs projects side by side unless told, so a GPU test's SwiftShader took
          // the same two cores beside them (the chart test, alone: no task over 50 ms; in the suite: 51 ms).
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: { name: 'gpu', include: ['tests/gpu/**/*.test.ts'], ...browserTests, sequence: { groupOrder: 0 } },
      },
      {
        // Long measurements for closing notes and docs; only `npm run experiment` runs them (never `npm test`).
        test: { name: 'experiments', include: ['experiments/**/*.test.ts'], ...browserTests, sequence: { groupOrder: 2 } },
      },
    ],
  },
});
