// The layer rules of ARCHITECTURE.md (.dependency-cruiser.mjs) hold for the project, and each rule fires on the
// import it exists to forbid (checked on a small generated tree, so a mistyped pattern cannot pass silently).
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cruise, type ICruiseOptions, type ICruiseResult, type IViolation } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const CRUISED = ['src', 'tests', 'bench', 'regress', 'experiments', 'scripts', 'vite.config.ts', 'vitest.config.ts'];

async function loadOptions(baseDir: string, withTsConfig: boolean): Promise<ICruiseOptions> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.mjs'));
  options.baseDir = baseDir;
  if (withTsConfig) options.tsConfig = { fileName: join(ROOT, 'tsconfig.json') };
  else delete options.tsConfig;
  return options;
}

async function violations(roots: string[], options: ICruiseOptions, tsConfig?: unknown): Promise<IViolation[]> {
  const { output } = await cruise(roots, options, {}, tsConfig ? { tsConfig } : undefined);
  return (output as ICruiseResult).summary.violations;
}

/** One line per violation: rule, edge (or cycle) and the rule's reason. */
function describeViolation(v: IViolation, options: ICruiseOptions): string {
  const comment = options.ruleSet?.forbidden?.find((r) => r.name === v.rule.name)?.comment ?? '';
  const edge = v.cycle?.length ? [v.from, ...v.cycle.map((c) => c.name)].join(' → ') : `${v.from} → ${v.to}`;
  const typeOnly = v.dependencyTypes?.includes('type-only') ? ' (type-only)' : '';
  return `${v.rule.name}: ${edge}${typeOnly} (${comment})`;
}

// dependency-cruiser reads the whole tree: seconds, more beside the GPU tests, so past Vitest's 5 s default.
describe('the layers of the project', { timeout: 60_000 }, () => {
  it('no import crosses a layer upward, circles or reaches past the rules', async () => {
    const options = await loadOptions(ROOT, true);
    const found = await violations(CRUISED, options, extractTSConfig(join(ROOT, 'tsconfig.json')));
    expect(found.map((v) => describeViolation(v, options)), 'layer violations (see ARCHITECTURE.md, "Layers")').toEqual([]);
  });

  it('only src/gpu/device.ts asks navigator.gpu for an adapter or a device', () => {
    const callers: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
        const path = `${dir}/${e.name}`;
        if (e.isDirectory()) walk(path);
        else if (/\.ts$/.test(e.name) && /\.request(Adapter|Device)\s*\(/.test(readFileSync(join(ROOT, path), 'utf8'))) callers.push(path);
      }
    };
    walk('src');
    expect(callers).toEqual(['src/gpu/device.ts']);
  });
});

// A tree with every allowed kind of import: each layer uses every layer below it, by value and by type.
const ALLOWED: Record<string, string> = {
  'shaders/k.wgsl': '// a shader\n',
  'src/lib/a.ts': 'export const lib = 1;\n',
  'src/gpu/device.ts': "import { lib } from '../lib/a';\nexport type Gpu = { n: number };\nexport const requestGpu = (): Gpu => ({ n: lib });\n",
  'src/kernels/k.ts':
    "import wgsl from '../../shaders/k.wgsl?raw';\nimport type { Gpu } from '../gpu/device';\nimport { lib } from '../lib/a';\nexport const kernel = (g: Gpu) => [wgsl, g.n, lib];\n",
  'src/model/m.ts': "import type { Gpu } from '../gpu/device';\nimport { kernel } from '../kernels/k';\nexport const model = (g: Gpu) => kernel(g);\n",
  'src/data/d.ts': "import { model } from '../model/m';\nimport { lib } from '../lib/a';\nexport const data = [model, lib];\n",
  'src/data/tasks/t.ts': "import { data } from '../d';\nexport const task = data;\n",
  'src/train/t.ts': "import { data } from '../data/d';\nimport { kernel } from '../kernels/k';\nimport { model } from '../model/m';\nexport const train = [data, kernel, model];\n",
  'src/eval/e.ts': "import { task } from '../data/tasks/t';\nimport { train } from '../train/t';\nexport const evaluate = [task, train];\n",
  'src/rl/r.ts': "import { evaluate } from '../eval/e';\nimport { train } from '../train/t';\nexport const rl = [evaluate, train];\n",
  'src/scaling/s.ts': "import { rl } from '../rl/r';\nexport const scaling = rl;\n",
  'src/engine/e.ts':
    "import { requestGpu } from '../gpu/device';\nimport { scaling } from '../scaling/s';\nimport { model } from '../model/m';\nexport const engine = [requestGpu, scaling, model];\n",
  'src/ui/u.ts': "import { engine } from '../engine/e';\nimport { data } from '../data/d';\nimport { evaluate } from '../eval/e';\nexport const ui = [engine, data, evaluate];\n",
  'src/main.ts': "import { ui } from './ui/u';\nexport const main = ui;\n",
  'tests/x.test.ts': "import { requestGpu } from '../src/gpu/device';\nimport { kernel } from '../src/kernels/k';\nexport const t = [requestGpu, kernel];\n",
};

// Each forbidden import (a file added to ALLOWED) and the rules it must break, no more and no fewer.
const FORBIDDEN: { name: string; files: Record<string, string>; rules: string[] }[] = [
  { name: 'lib importing the gpu layer', files: { 'src/lib/bad.ts': "export type { Gpu } from '../gpu/device';\n" }, rules: ['lib-imports-nothing'] },
  { name: 'gpu importing a kernel', files: { 'src/gpu/bad.ts': "export * from '../kernels/k';\n" }, rules: ['gpu-imports-down'] },
  { name: 'a kernel importing the model', files: { 'src/kernels/bad.ts': "export * from '../model/m';\n" }, rules: ['kernels-import-down'] },
  { name: 'the model importing data by type only', files: { 'src/model/bad.ts': "import type { data } from '../data/d';\nexport type D = typeof data;\n" }, rules: ['model-imports-down'] },
  { name: 'the model importing train', files: { 'src/model/bad.ts': "export * from '../train/t';\n" }, rules: ['model-imports-down'] },
  { name: 'data importing train', files: { 'src/data/bad.ts': "export * from '../train/t';\n" }, rules: ['data-imports-down'] },
  { name: 'eval importing the engine', files: { 'src/eval/bad.ts': "export * from '../engine/e';\n" }, rules: ['jobs-import-down'] },
  { name: 'train importing the UI', files: { 'src/train/bad.ts': "export * from '../ui/u';\n" }, rules: ['jobs-import-down'] },
  { name: 'scaling importing the engine', files: { 'src/scaling/bad.ts': "export * from '../engine/e';\n" }, rules: ['jobs-import-down'] },
  { name: 'data importing scaling', files: { 'src/data/bad.ts': "export * from '../scaling/s';\n" }, rules: ['data-imports-down'] },
  { name: 'the model importing scaling', files: { 'src/model/bad.ts': "export * from '../scaling/s';\n" }, rules: ['model-imports-down'] },
  { name: 'the engine importing the UI', files: { 'src/engine/bad.ts': "export * from '../ui/u';\n" }, rules: ['engine-imports-down'] },
  { name: 'the UI importing a gpu type', files: { 'src/ui/bad.ts': "import type { Gpu } from '../gpu/device';\nexport type G = Gpu;\n" }, rules: ['ui-not-to-gpu'] },
  { name: 'the UI importing a kernel', files: { 'src/ui/bad.ts': "export * from '../kernels/k';\n" }, rules: ['ui-not-to-gpu'] },
  { name: 'a test importing a shader', files: { 'tests/bad.ts': "export { default } from '../shaders/k.wgsl?raw';\n" }, rules: ['shaders-only-from-kernels'] },
  { name: 'train requesting a device', files: { 'src/train/bad.ts': "export { requestGpu } from '../gpu/device';\n" }, rules: ['engine-owns-the-device'] },
  { name: 'shipped code importing a test', files: { 'src/eval/bad.ts': "export * from '../../tests/x.test';\n" }, rules: ['src-not-to-tests'] },
  {
    name: 'a circle of type-only imports',
    files: {
      'src/data/p.ts': "import type { Q } from './q';\nexport type P = { q?: Q };\n",
      'src/data/q.ts': "import type { P } from './p';\nexport type Q = { p?: P };\n",
    },
    rules: ['no-circular'],
  },
  { name: 'an import that does not resolve', files: { 'src/data/bad.ts': "export * from './missing';\n" }, rules: ['no-unresolvable'] },
];

describe('the layer rules fire', { timeout: 60_000 }, () => {
  let dir = '';
  const write = (files: Record<string, string>): void => {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'spark-layers-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('on none of the allowed imports', async () => {
    rmSync(dir, { recursive: true, force: true });
    write(ALLOWED);
    const options = await loadOptions(dir, false);
    expect((await violations(['src', 'tests'], options)).map((v) => describeViolation(v, options))).toEqual([]);
  });

  it.each(FORBIDDEN)('on $name', async ({ files, rules }) => {
    rmSync(dir, { recursive: true, force: true });
    write({ ...ALLOWED, ...files });
    const options = await loadOptions(dir, false);
    const found = await violations(['src', 'tests'], options);
    expect([...new Set(found.map((v) => v.rule.name))].sort()).toEqual([...rules].sort());
    // Every violation is about one of the added files.
    for (const v of found) expect(Object.keys(files), describeViolation(v, options)).toContain(v.from);
  });
});
