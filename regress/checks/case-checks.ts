/**
 * The GPU tests' kernel cases (tests/util/cases/) as regression checks: inputs fixed by the check id's seed, each
 * output perturbed by --break, one CheckResult per output (`<id>/<output>`, or `<id>` for a single output).
 */
import type { CaseBuilder } from '../../tests/util/kernel-test';
import { runKernelCase } from '../../tests/util/kernel-test';
import { relErrorCheck, seedOf } from '../harness';
import type { CheckResult, RegressContext } from '../types';

export async function caseChecks(ctx: RegressContext, id: string, kernel: string, build: CaseBuilder): Promise<CheckResult[]> {
  const seed = seedOf(id);
  const c = await build(ctx.gpu, seed);
  const results = await runKernelCase(ctx.gpu, c, (pass, outputs) => {
    for (const [buffer, n] of outputs) ctx.perturb(pass, kernel, buffer, n);
  });
  return results.map(({ label, got, ref }) => {
    const r = relErrorCheck(results.length === 1 ? id : `${id}/${label}`, kernel, got, ref);
    if (r.message) r.message = `${c.name}, seed ${seed}: ${r.message}`;
    return r;
  });
}

/** The entries of a shared case table with the given names, in that order; throws naming a name it lacks. */
export function pick<T>(table: readonly T[], nameOf: (entry: T) => string, names: readonly string[]): T[] {
  return names.map((name) => {
    const found = table.find((entry) => nameOf(entry) === name);
    if (found === undefined) throw new Error(`regress: no case '${name}' in the shared table; it has ${table.map(nameOf).join(', ')}`);
    return found;
  });
}
