import { describe, expect, it } from 'vitest';
import type { Strategy, SweepPoint, SweepSample } from '../../src/eval/sweep';
import {
  chosenBy, countsOf, distinctValues, groupOf, pageOf, parseList, percent, pointsToCsv, POINT_CSV_HEADER, splitCompletion,
  STRATEGIES, VIEWS, viewTable, type SweepView,
} from '../../src/ui/sweep-data';

const view = (id: SweepView) => VIEWS.find((v) => v.id === id)!;
const point = (strategy: Strategy, n: number, extra: Partial<SweepPoint> = {}): SweepPoint => ({
  strategy, n, accuracy: 0.5, low: 0.3, high: 0.7, correct: 8, total: 16, tokens: 100 * n, ms: 10 * n, ...extra,
});
const sample = (extra: Partial<SweepSample> = {}): SweepSample => ({
  strategy: 'oracle', n: 2, problem: '12+34=', completion: '2+4=6 1+3=4</think>46<|endoftext|>', answer: '46', correct: true, meanLogprob: -0.5, ...extra,
});

describe('viewTable', () => {
  const rules = ['oracle', 'logprob', 'majority', 'weighted'] as const;
  const points = [
    ...[1, 2, 4].flatMap((n) => rules.map((r, i) => point(r, n, { accuracy: (n * 10 + i) / 64 }))),
    point('budget-cap', 1, { budget: 0, tokens: 40, ms: 5 }),
    point('budget-cap', 1, { budget: 8, tokens: 160, ms: 9 }),
    point('budget-extend', 1, { budget: 8, tokens: 300, ms: 12 }),
    point('contemplate-vote', 4, { tokens: 400, ms: 40 }),
    point('contemplate-write', 4, { tokens: 450, ms: 48 }),
  ];

  it('puts the selection rules and contemplation on the N axis, one shared row per N', () => {
    const t = viewTable(points, view('n'));
    expect(t.x).toEqual([1, 2, 4]);
    expect(t.series.map((s) => s.strategy)).toEqual(['oracle', 'logprob', 'majority', 'weighted', 'contemplate-vote', 'contemplate-write']);
    expect(t.series[1].y).toEqual([11 / 64, 21 / 64, 41 / 64]);
    expect(t.series[4].y).toEqual([null, null, 0.5]);
    expect(t.series[0].low).toEqual([0.3, 0.3, 0.3]);
    expect(t.dropped).toBe(0);
  });

  it('keeps budget 0 on the linear budget axis and puts cap and extend on the same x', () => {
    const t = viewTable(points, view('budget'));
    expect(t.x).toEqual([0, 8]);
    expect(countsOf(t)).toEqual({ 'budget-cap': 2, 'budget-extend': 1 });
  });

  it('plots every strategy against tokens and wall time, leaving out strategies with no point', () => {
    for (const id of ['tokens', 'ms'] as const) {
      const t = viewTable(points, view(id));
      expect(t.series.map((s) => s.strategy).sort()).toEqual(STRATEGIES.map((s) => s.id).sort());
      expect([...t.x]).toEqual([...t.x].sort((a, b) => a - b));
      expect(Object.values(countsOf(t)).reduce((a, b) => a + (b ?? 0), 0)).toBe(points.length);
    }
    expect(viewTable([point('majority', 2)], view('tokens')).series.map((s) => s.strategy)).toEqual(['majority']);
  });

  it('gives a strategy a second row at an x it already holds, and drops x ≤ 0 on a log axis', () => {
    const t = viewTable([point('budget-cap', 1, { budget: 16, tokens: 200 }), point('budget-cap', 1, { budget: 32, tokens: 200, accuracy: 0.9 }), point('oracle', 1, { tokens: 200 })], view('tokens'));
    expect(t.x).toEqual([200, 200]);
    expect(countsOf(t)).toEqual({ oracle: 1, 'budget-cap': 2 });
    expect(viewTable([point('oracle', 1, { tokens: 0 })], view('tokens')).dropped).toBe(1);
    expect(viewTable([point('oracle', 1)], view('budget')).x).toEqual([]);
  });
});

describe('pointsToCsv', () => {
  it('writes every point with its interval, an empty budget where it has none', () => {
    const csv = pointsToCsv([point('oracle', 2), point('budget-extend', 1, { budget: 16, ms: 12.5 })]);
    const lines = csv.trim().split('\n');
    expect(lines[0]).toBe(POINT_CSV_HEADER);
    expect(lines[1]).toBe('oracle,2,,0.5,0.3,0.7,8,16,200,20');
    expect(lines[2]).toBe('budget-extend,1,16,0.5,0.3,0.7,8,16,100,12.5');
    expect(pointsToCsv([])).toBe(`${POINT_CSV_HEADER}\n`);
  });
});

describe('samples', () => {
  it('splits thinking from the answer at </think>, dropping the end-of-text marker', () => {
    expect(splitCompletion('2+4=6</think>46<|endoftext|>')).toEqual({ thinking: '2+4=6', answer: '46', closed: true });
    expect(splitCompletion('</think>7')).toEqual({ thinking: '', answer: '7', closed: true });
    expect(splitCompletion('still thinking')).toEqual({ thinking: 'still thinking', answer: '', closed: false });
  });

  it('lists the rules that chose a sample and groups samples as the sweep made them', () => {
    expect(chosenBy(sample({ chosen: { oracle: true, logprob: false, majority: true } }))).toEqual(['oracle', 'majority']);
    expect(chosenBy(sample())).toEqual([]);
    expect(groupOf(sample())).toBe('best-of-n');
    expect(groupOf(sample({ strategy: 'budget-cap', budget: 4 }))).toBe('budget-cap');
    expect(groupOf(sample({ strategy: 'contemplate-vote' }))).toBe('contemplate');
  });

  it('filters and pages thousands of samples, clamping the page', () => {
    const all = Array.from({ length: 3000 }, (_, i) => sample({ n: 1 << (i % 4), correct: i % 3 === 0, chosen: { majority: i % 8 === 0 } }));
    const p = pageOf(all, { n: 4, verdict: 'correct' }, 2, 50);
    expect(p.total).toBe(all.filter((s) => s.n === 4 && s.correct).length);
    expect(p.rows).toHaveLength(50);
    expect(p.start).toBe(100);
    for (const r of p.rows) expect(all[r.index]).toMatchObject({ n: 4, correct: true });
    const last = pageOf(all, {}, 1e9, 50);
    expect(last.page).toBe(59);
    expect(last.rows).toHaveLength(50);
    expect(pageOf(all, { chosenBy: 'majority' }, 0, 1000).total).toBe(375);
    expect(pageOf([], {}, 3, 50)).toMatchObject({ rows: [], total: 0, page: 0, pages: 1 });
    expect(distinctValues(all, 'n')).toEqual([1, 2, 4, 8]);
    expect(distinctValues(all, 'budget')).toEqual([]);
  });
});

describe('helpers', () => {
  it('parses list fields and names the first bad piece', () => {
    expect(parseList('1, 2 4;8')).toEqual({ ok: true, values: [1, 2, 4, 8] });
    expect(parseList('  ')).toEqual({ ok: true, values: [] });
    expect(parseList('1, two')).toEqual({ ok: false, bad: 'two' });
  });

  it('formats fractions as percentages', () => {
    expect(percent(0.4567)).toBe('45.7%');
    expect(percent(1)).toBe('100%');
    expect(percent(null)).toBe('–');
  });
});
