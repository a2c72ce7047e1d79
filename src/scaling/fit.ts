/**
 * Scaling-law fits, as in Hoffmann et al. 2022 (Chinchilla, approach 3): the parameters minimise the Huber loss
 * (δ = 1e-3) of log L_pred − log L_obs, started from a grid of initialisations, keeping the best.
 *
 *   fitPowerLaw: L(C)    = E + A·C^−α            (C: training FLOPs actually spent; L: loss in nats)
 *   fitND:       L(N, D) = E + A/N^α + B/D^β      (N: parameters, D: training tokens)
 *
 * Conditioning: the fit works in θ = (log E, log A', α, …) with C divided by a reference scale (the geometric
 * mean of the points' FLOPs), so A' = A·ref^−α is the loss above the floor at the middle of the data and every
 * parameter is O(1); A itself is reported for the user. The optimiser is a damped Gauss-Newton
 * (Levenberg–Marquardt) on the Huber objective with iteratively reweighted residuals: the step solves
 * (JᵀWJ + λ·diag) Δ = −Jᵀψ(r), where ψ is the Huber derivative and W = ψ(r)/r, and is kept only if the objective
 * falls, so every accepted step is a descent of the true objective.
 */

export type ScalingFitErrorCode =
  | 'too-few-points' | 'non-finite' | 'non-positive' | 'flat' | 'no-overlap' | 'out-of-range' | 'below-floor' | 'near-floor'
  | 'unstable';

/** Every refusal of the scaling fitter; `code` says which kind, the message says what to add or change. */
export class ScalingFitError extends Error {
  override name = 'ScalingFitError';
  constructor(
    readonly code: ScalingFitErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One measurement: training FLOPs spent so far and the validation loss (nats) there. */
export interface ComputeLoss {
  flops: number;
  loss: number;
}

/** One finished run of the (N, D) grid: parameters, training tokens, final validation loss. */
export interface SizeTokensLoss {
  params: number;
  tokens: number;
  loss: number;
}

/** L(C) = E + A·C^−α; `amplitude` = A·reference^−α, the loss above E at C = reference (well scaled). */
export interface PowerLaw {
  E: number;
  A: number;
  logA: number;
  alpha: number;
  reference: number;
  amplitude: number;
}

/** L(N, D) = E + A/N^α + B/D^β, with the amplitudes at the reference size and token count as for {@link PowerLaw}. */
export interface NDLaw {
  E: number;
  A: number;
  alpha: number;
  B: number;
  beta: number;
  paramsReference: number;
  tokensReference: number;
  amplitudeN: number;
  amplitudeD: number;
}

export interface FitResult<P> {
  params: P;
  /** Σ Huber_δ(log L_pred − log L_obs) at the best initialisation's end point. */
  objective: number;
  /** log L_pred − log L_obs per point, in input order. */
  residuals: number[];
  /** How many initialisations ended within a relative 1e-6 of the best objective (a check that it is no fluke). */
  converged: number;
  inits: number;
}

export interface FitOptions<Start> {
  /** Huber threshold on log-loss residuals; default 1e-3 (Chinchilla). */
  delta?: number;
  /** Where the optimiser starts (e.g. a previous fit, for a bootstrap resample); default a grid of starts. */
  starts?: readonly Start[];
}

export const HUBER_DELTA = 1e-3;

export function huber(r: number, delta: number): number {
  const a = Math.abs(r);
  return a <= delta ? 0.5 * r * r : delta * (a - 0.5 * delta);
}

/** dHuber/dr: the residual clipped to ±δ. */
export function huberDerivative(r: number, delta: number): number {
  return r > delta ? delta : r < -delta ? -delta : r;
}

/** A model of log-loss for the optimiser: residuals and their Jacobian (row per point) at θ. */
interface LogModel {
  residuals(theta: readonly number[]): number[];
  jacobian(theta: readonly number[]): number[][];
}

export function huberObjective(r: readonly number[], delta: number): number {
  let s = 0;
  for (const x of r) s += huber(x, delta);
  return s;
}

/** The objective's gradient Jᵀψ(r) (exported so a test can check it against finite differences). */
export function huberGradient(r: readonly number[], J: readonly number[][], delta: number): number[] {
  const g = new Array<number>(J[0].length).fill(0);
  r.forEach((ri, i) => {
    const p = huberDerivative(ri, delta);
    for (let k = 0; k < g.length; k++) g[k] += J[i][k] * p;
  });
  return g;
}

/** Solves S x = b for a symmetric positive-definite S (Cholesky); null if S is not positive definite. */
function solveSpd(S: number[][], b: number[]): number[] | null {
  const n = b.length;
  const L = S.map(() => new Array<number>(n).fill(0));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = S[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      if (i === j) {
        if (!(s > 0)) return null;
        L[i][i] = Math.sqrt(s);
      } else L[i][j] = s / L[j][j];
    }
  }
  const y = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= L[i][k] * y[k];
    y[i] = s / L[i][i];
  }
  const x = new Array<number>(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= L[k][i] * x[k];
    x[i] = s / L[i][i];
  }
  return x;
}

const MAX_ITERATIONS = 500;

/** Levenberg–Marquardt on the Huber objective from one start; returns the end point and its objective. */
function minimise(model: LogModel, start: readonly number[], delta: number): { theta: number[]; objective: number } {
  let theta = [...start];
  let r = model.residuals(theta);
  let f = huberObjective(r, delta);
  if (!Number.isFinite(f)) return { theta, objective: Infinity };
  let lambda = 1e-3;
  for (let it = 0; it < MAX_ITERATIONS; it++) {
    const J = model.jacobian(theta);
    const g = huberGradient(r, J, delta);
    const n = g.length;
    // Gauss-Newton matrix of the reweighted residuals: W = ψ(r)/r (1 inside δ, δ/|r| outside).
    const H = g.map(() => new Array<number>(n).fill(0));
    r.forEach((ri, i) => {
      const w = Math.abs(ri) <= delta ? 1 : delta / Math.abs(ri);
      for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) H[a][b] += w * J[i][a] * J[i][b];
    });
    for (let a = 0; a < n; a++) for (let b = 0; b < a; b++) H[b][a] = H[a][b];
    let accepted = false;
    while (lambda < 1e12) {
      const S = H.map((row, a) => row.map((v, b) => (a === b ? v + lambda * (v + 1e-12) : v)));
      const step = solveSpd(S, g.map((x) => -x));
      if (step) {
        const next = theta.map((t, k) => t + step[k]);
        const rn = model.residuals(next);
        const fn = huberObjective(rn, delta);
        if (fn < f) {
          const gain = f - fn;
          theta = next;
          r = rn;
          f = fn;
          lambda = Math.max(lambda / 3, 1e-12);
          accepted = true;
          if (gain <= 1e-10 * (f + 1e-300)) return { theta, objective: f };
          break;
        }
      }
      lambda *= 4;
    }
    if (!accepted) break; // no step lowers the objective: a (local) minimum to working precision
  }
  return { theta, objective: f };
}

/** Runs every start, keeps the best, and counts the starts that reached it. */
function bestOf(model: LogModel, inits: readonly number[][], delta: number): { theta: number[]; objective: number; converged: number } {
  if (!(delta > 0 && Number.isFinite(delta))) throw new RangeError(`the Huber delta must be a positive number (1e-3 as in Chinchilla), got ${delta}`);
  if (inits.length === 0 || inits.some((t) => t.some((v) => !Number.isFinite(v)))) {
    throw new RangeError('fit starts must be a non-empty list of laws with positive, finite E and amplitudes and finite exponents');
  }
  const ends = inits.map((s) => minimise(model, s, delta));
  let best = ends[0];
  for (const e of ends) if (e.objective < best.objective) best = e;
  const tol = 1e-6 * best.objective + 1e-15;
  const converged = ends.filter((e) => e.objective - best.objective <= tol).length;
  return { ...best, converged };
}

function checkValues(values: readonly number[], what: (i: number) => string): void {
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      throw new ScalingFitError('non-finite', `${what(i)} is ${v}: every point needs a finite value; drop the point or fix how it was recorded`);
    }
  });
  values.forEach((v, i) => {
    if (v <= 0) throw new ScalingFitError('non-positive', `${what(i)} is ${v}: FLOPs, sizes, tokens and losses must be positive (the fit works on their logarithms)`);
  });
}

/** Refuses points that are not finite and positive; `where` names the collection in messages. */
export function checkComputeLoss(points: readonly ComputeLoss[], where = 'points'): void {
  checkValues(points.map((p) => p.flops), (i) => `${where}[${i}].flops`);
  checkValues(points.map((p) => p.loss), (i) => `${where}[${i}].loss`);
}

function distinct(values: readonly number[]): number {
  return new Set(values).size;
}

function geometricMean(values: readonly number[]): number {
  return Math.exp(values.reduce((s, v) => s + Math.log(v), 0) / values.length);
}

/** Least-squares slope of y on x (x not constant). */
function slope(x: readonly number[], y: readonly number[]): number {
  const mx = x.reduce((s, v) => s + v, 0) / x.length;
  const my = y.reduce((s, v) => s + v, 0) / y.length;
  let sxy = 0;
  let sxx = 0;
  x.forEach((xi, i) => {
    sxy += (xi - mx) * (y[i] - my);
    sxx += (xi - mx) ** 2;
  });
  return sxy / sxx;
}

function grid(...axes: number[][]): number[][] {
  return axes.reduce<number[][]>((acc, axis) => acc.flatMap((p) => axis.map((v) => [...p, v])), [[]]);
}

/** The default starts for L(C): floors below the lowest loss, amplitudes around the data, exponents 0.05–1. */
function powerLawInits(losses: readonly number[]): number[][] {
  const lo = losses.reduce((m, v) => Math.min(m, v), Infinity);
  const mid = geometricMean(losses);
  const floors = [0.1, 0.5, 0.8, 0.95].map((f) => f * lo);
  return grid(floors, [0.5, 1, 2], [0.05, 0.15, 0.4, 1]).map(([E, k, alpha]) => [Math.log(E), Math.log(k * Math.max(mid - E, 1e-3 * mid)), alpha]);
}

/** Fits L(C) = E + A·C^−α to (FLOPs, loss) points, usually a recipe's lower envelope. */
export function fitPowerLaw(points: readonly ComputeLoss[], options: FitOptions<Pick<PowerLaw, 'E' | 'A' | 'alpha'> & { logA?: number }> = {}): FitResult<PowerLaw> {
  const delta = options.delta ?? HUBER_DELTA;
  checkComputeLoss(points);
  const flops = points.map((p) => p.flops);
  if (points.length < 4 || distinct(flops) < 3) {
    throw new ScalingFitError(
      'too-few-points',
      `a fit of L(C) = E + A·C^−α needs at least 4 points at 3 or more distinct FLOP counts (3 parameters + 1), got ${points.length} points at ${distinct(flops)} FLOP counts; add runs of other sizes or token budgets`,
    );
  }
  const reference = geometricMean(flops);
  const x = flops.map((c) => Math.log(c / reference));
  const logL = points.map((p) => Math.log(p.loss));
  if (!(slope(x, logL) < 0)) {
    throw new ScalingFitError('flat', 'the losses do not fall as compute grows, so no power law L(C) = E + A·C^−α describes them; check the runs trained (learning rate, data) and that the FLOP counts are right');
  }
  const model: LogModel = {
    residuals: ([e, a, alpha]) => x.map((xi, i) => Math.log(Math.exp(e) + Math.exp(a - alpha * xi)) - logL[i]),
    jacobian: ([e, a, alpha]) =>
      x.map((xi) => {
        const E = Math.exp(e);
        const t = Math.exp(a - alpha * xi);
        const L = E + t;
        return [E / L, t / L, (-xi * t) / L];
      }),
  };
  // Given starts in this fit's frame (logA, where given, spares a steep law's A from overflowing); an empty list or a
  // start that does not map to finite values is refused (bestOf).
  const inits = options.starts?.map((l) => [Math.log(l.E), (l.logA ?? Math.log(l.A)) - l.alpha * Math.log(reference), l.alpha]) ?? powerLawInits(points.map((p) => p.loss));
  const best = bestOf(model, inits, delta);
  const [e, a, alpha] = best.theta;
  const law: PowerLaw = { E: Math.exp(e), amplitude: Math.exp(a), alpha, reference, logA: a + alpha * Math.log(reference), A: Math.exp(a + alpha * Math.log(reference)) };
  const xs = [x.reduce((m, v) => Math.min(m, v), Infinity), x.reduce((m, v) => Math.max(m, v), -Infinity)];
  const drop = Math.exp(a - alpha * xs[0]) - Math.exp(a - alpha * xs[1]);
  if (!(alpha > 1e-3) || !(drop > 1e-3 * law.E)) {
    throw new ScalingFitError('flat', `the best fit is flat (α = ${alpha.toPrecision(3)}, a loss drop of ${drop.toPrecision(3)} nats over the measured FLOPs): the losses do not fall with compute enough to fit a power law; add larger runs or check the training`);
  }
  return { params: law, objective: best.objective, residuals: model.residuals(best.theta), converged: best.converged, inits: inits.length };
}

/** The law's loss at C FLOPs. */
export function powerLawLoss(law: PowerLaw, flops: number): number {
  return law.E + law.amplitude * Math.pow(flops / law.reference, -law.alpha);
}

/** The FLOPs at which the law reaches `loss`: C = (A / (L − E))^(1/α); refused ('below-floor') for L ≤ E. */
export function computeForLoss(law: PowerLaw, loss: number): number {
  if (!(loss > law.E)) {
    throw new ScalingFitError('below-floor', `the target loss ${loss} is at or below the fit's floor E = ${law.E.toPrecision(4)}: no amount of compute reaches it under this fit; choose a target above ${law.E.toPrecision(4)}`);
  }
  return law.reference * Math.pow(law.amplitude / (loss - law.E), 1 / law.alpha);
}

/** Two-variable least-squares slopes of y on (u, v). */
function slopes2(u: readonly number[], v: readonly number[], y: readonly number[]): [number, number] {
  const mean = (z: readonly number[]): number => z.reduce((s, w) => s + w, 0) / z.length;
  const [mu, mv, my] = [mean(u), mean(v), mean(y)];
  let suu = 0, svv = 0, suv = 0, suy = 0, svy = 0;
  u.forEach((ui, i) => {
    const [du, dv, dy] = [ui - mu, v[i] - mv, y[i] - my];
    suu += du * du; svv += dv * dv; suv += du * dv; suy += du * dy; svy += dv * dy;
  });
  const det = suu * svv - suv * suv;
  return [(svv * suy - suv * svy) / det, (suu * svy - suv * suy) / det];
}

/** Fits L(N, D) = E + A/N^α + B/D^β to the final losses of a grid of runs (sizes × token budgets). */
export function fitND(points: readonly SizeTokensLoss[], options: FitOptions<Pick<NDLaw, 'E' | 'A' | 'alpha' | 'B' | 'beta'>> = {}): FitResult<NDLaw> {
  const delta = options.delta ?? HUBER_DELTA;
  checkValues(points.map((p) => p.params), (i) => `points[${i}].params`);
  checkValues(points.map((p) => p.tokens), (i) => `points[${i}].tokens`);
  checkValues(points.map((p) => p.loss), (i) => `points[${i}].loss`);
  const [nSizes, nBudgets] = [distinct(points.map((p) => p.params)), distinct(points.map((p) => p.tokens))];
  if (points.length < 6 || nSizes < 3 || nBudgets < 3) {
    throw new ScalingFitError(
      'too-few-points',
      `a fit of L(N, D) = E + A/N^α + B/D^β needs at least 6 runs (5 parameters + 1) covering 3 or more model sizes and 3 or more token budgets, got ${points.length} runs, ${nSizes} sizes, ${nBudgets} token budgets; add runs to the grid`,
    );
  }
  const paramsReference = geometricMean(points.map((p) => p.params));
  const tokensReference = geometricMean(points.map((p) => p.tokens));
  const xn = points.map((p) => Math.log(p.params / paramsReference));
  const xd = points.map((p) => Math.log(p.tokens / tokensReference));
  const logL = points.map((p) => Math.log(p.loss));
  const [sn, sd] = slopes2(xn, xd, logL);
  if (!(sn < 0) || !(sd < 0)) {
    throw new ScalingFitError('flat', `the losses do not fall with ${!(sn < 0) ? 'model size' : 'training tokens'} across the grid, so L(N, D) = E + A/N^α + B/D^β cannot be fitted; check the runs trained and that sizes and token counts are right`);
  }
  const parts = ([e, a, alpha, b, beta]: readonly number[], i: number): [number, number, number] => [Math.exp(e), Math.exp(a - alpha * xn[i]), Math.exp(b - beta * xd[i])];
  const model: LogModel = {
    residuals: (theta) => logL.map((l, i) => Math.log(parts(theta, i).reduce((s, v) => s + v, 0)) - l),
    jacobian: (theta) =>
      logL.map((_, i) => {
        const [E, tn, td] = parts(theta, i);
        const L = E + tn + td;
        return [E / L, tn / L, (-xn[i] * tn) / L, td / L, (-xd[i] * td) / L];
      }),
  };
  const lo = points.reduce((m, p) => Math.min(m, p.loss), Infinity);
  const mid = geometricMean(points.map((p) => p.loss));
  const inits =
    options.starts?.map((l) => [Math.log(l.E), Math.log(l.A) - l.alpha * Math.log(paramsReference), l.alpha, Math.log(l.B) - l.beta * Math.log(tokensReference), l.beta]) ??
    grid([0.3, 0.6, 0.9], [0.25, 0.75], [0.1, 0.3, 0.7], [0.1, 0.3, 0.7]).map(([f, share, alpha, beta]) => {
      const reducible = Math.max(mid - f * lo, 1e-3 * mid);
      return [Math.log(f * lo), Math.log(share * reducible), alpha, Math.log((1 - share) * reducible), beta];
    });
  const best = bestOf(model, inits, delta);
  const [e, a, alpha, b, beta] = best.theta;
  // Each term must fall by a visible amount across its own axis, as for L(C).
  const fall = (amp: number, k: number, xs: readonly number[]): number => {
    const [lo, hi] = xs.reduce(([a, b], v) => [Math.min(a, v), Math.max(b, v)], [Infinity, -Infinity]);
    return k > 1e-3 ? amp * (Math.exp(-k * lo) - Math.exp(-k * hi)) : 0;
  };
  for (const [axis, symbol, k, drop] of [['size', 'α', alpha, fall(Math.exp(a), alpha, xn)], ['tokens', 'β', beta, fall(Math.exp(b), beta, xd)]] as const) {
    if (!(drop > 1e-3 * Math.exp(e))) {
      throw new ScalingFitError('flat', `the best fit is flat in ${axis} (${symbol} = ${k.toPrecision(3)}, a loss drop of ${drop.toPrecision(3)} nats across the grid): the losses do not fall enough with ${axis} to fit L(N, D); widen the grid along it or check the runs`);
    }
  }
  const params: NDLaw = {
    E: Math.exp(e), alpha, beta, paramsReference, tokensReference, amplitudeN: Math.exp(a), amplitudeD: Math.exp(b),
    A: Math.exp(a + alpha * Math.log(paramsReference)), B: Math.exp(b + beta * Math.log(tokensReference)),
  };
  return { params, objective: best.objective, residuals: model.residuals(best.theta), converged: best.converged, inits: inits.length };
}
