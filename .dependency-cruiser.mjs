// The layer rules of ARCHITECTURE.md, checked by tests/unit/layers.test.ts in `npm test`
// (by hand: `npx depcruise src tests bench regress experiments`).
//
// Layers, bottom to top; a module imports only its own layer and the layers below it:
//   src/lib      dependency-free helpers (the seeded RNG)
//   src/gpu      device, limits, buffers, pipeline cache, timing, typed GPU errors
//   src/kernels  one wrapper per shader file (the only importers of shaders/)
//   src/model    config, parameter layout, forward/backward schedule, KV-cache decoder
//   jobs         src/data (+ tasks/, curation/) at the bottom of the layer; src/train, src/eval, src/rl, src/scaling
//                above it and free to use each other (no circles)
//   src/engine   the library API and the worker that owns the GPU
//   src/ui       Lit views (and src/main.ts, the page's entry); never kernels or gpu
// Skipping layers downwards is allowed: the trainer drives the optimizer kernels, samplers the sampling kernel.

/** A rule forbidding `from` to import anything in src/ or shaders/ except `allowed` (regexes of paths). */
function only(name, comment, from, allowed) {
  return {
    name,
    comment,
    severity: 'error',
    from: { path: from },
    to: { path: '^(src|shaders)/', pathNot: allowed },
  };
}

const LIB = '^src/lib/';
const GPU = '^src/gpu/';
const KERNELS = '^src/kernels/';
const SHADERS = '^shaders/';
const MODEL = '^src/model/';
const DATA = '^src/data/';
const JOBS = '^src/(train|eval|rl|scaling)/';
const ENGINE = '^src/engine/';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Import circles (type-only imports included) make load order and layering ambiguous: move the shared part down.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    {
      name: 'no-unresolvable',
      comment: 'An import the checker cannot resolve is an import it cannot judge: fix the path.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    only('lib-imports-nothing', 'src/lib is the bottom layer: it imports nothing from the project.', LIB, [LIB]),
    only('gpu-imports-down', 'src/gpu sits on src/lib only.', GPU, [GPU, LIB]),
    only('kernels-import-down', 'src/kernels use src/gpu, src/lib and their shaders; they hold no model knowledge.', KERNELS, [KERNELS, SHADERS, GPU, LIB]),
    only('model-imports-down', 'src/model is built from kernels; it must not import data, train, eval or anything above.', MODEL, [MODEL, KERNELS, GPU, LIB]),
    only('data-imports-down', 'src/data is the bottom of the job layer: train and eval use it, it uses neither.', DATA, [DATA, MODEL, KERNELS, GPU, LIB]),
    only('jobs-import-down', 'train, eval, rl and scaling never import the engine or the UI.', JOBS, [JOBS, DATA, MODEL, KERNELS, GPU, LIB]),
    only('engine-imports-down', 'src/engine never imports the UI.', ENGINE, [ENGINE, JOBS, DATA, MODEL, KERNELS, GPU, LIB]),
    {
      name: 'ui-not-to-gpu',
      comment: 'The UI never touches GPU objects or kernels (type-only imports included): it renders the engine\'s messages.',
      severity: 'error',
      from: { path: '^src/(ui/|main\\.ts$)' },
      to: { path: '^src/(kernels|gpu)/' },
    },
    {
      name: 'shaders-only-from-kernels',
      comment: 'Each shader file is imported by its kernel wrapper only.',
      severity: 'error',
      from: { pathNot: KERNELS },
      to: { path: SHADERS },
    },
    {
      name: 'engine-owns-the-device',
      comment: 'Only src/engine requests a GPU device (requestGpu in src/gpu/device.ts); other layers take the Gpu as a type.',
      severity: 'error',
      from: { path: '^src/', pathNot: [ENGINE, GPU] },
      to: { path: '^src/gpu/device\\.ts$', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'src-not-to-tests',
      comment: 'Shipped code never imports tests, benchmarks, regression checks, experiments or scripts.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(tests|bench|regress|experiments|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: a type circle or an upward type import is still a dependency on that layer.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    // Resolve packages through their `exports` map, as vite does (vitest/browser has no main file).
    enhancedResolveOptions: {
      extensions: ['.ts', '.d.ts', '.mjs', '.js', '.json'],
      exportsFields: ['exports'],
      conditionNames: ['import', 'browser', 'default', 'types'],
    },
  },
};
