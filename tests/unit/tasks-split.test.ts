// The held-out split: evaluation problems never occur in a training corpus, for every task and difficulty.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../src/lib/rng';
import {
  ADDITION,
  COUNTDOWN,
  END_OF_TEXT_TEXT,
  HELD_OUT_FRACTION,
  MULTIPLICATION,
  TASKS,
  THINK_TEXT,
  canonicalProblem,
  drawProblem,
  isHeldOut,
  reasoningExamples,
  type Task,
} from '../../src/data/tasks';

const distinct = (task: Task, prompts: string[]) => new Set(prompts.map((p) => canonicalProblem(task, p)));
const draws = (task: Task, d: number, split: 'train' | 'eval', n: number, seed: number) => {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => drawProblem(task, rng, d, split, 'none').prompt);
};

describe('held-out split', () => {
  it('is a fixed function of the problem: the same sides as when it was made, whatever the spelling', () => {
    // Pinned: a change here moves problems between the sides, so checkpoints trained before would be scored on
    // problems they saw.
    expect(['12+34=', '99+10=', '347+589=', '47*3=', '2 3 7 9 to 41:', '1 2 3 to 6:'].map((p) =>
      isHeldOut(p.includes(' to ') ? COUNTDOWN : p.includes('*') ? MULTIPLICATION : ADDITION, p))).toEqual([false, false, false, true, false, true]);
    expect(Array.from({ length: 4 }, ((r) => () => drawProblem(ADDITION, r, 1, 'eval').prompt)(new Rng(1)))).toEqual(['56+34=', '30+10=', '84+18=', '84+94=']);
    // commuted operands, spaces and number order are one problem
    for (const [task, a, b] of [[ADDITION, '12+34=', '34 + 12 ='], [MULTIPLICATION, '47*3=', '3*47='], [COUNTDOWN, '1 2 3 to 6:', ' 3 1 2 to 6 :']] as const) {
      expect(canonicalProblem(task, a)).toBe(canonicalProblem(task, b));
      expect(isHeldOut(task, a)).toBe(isHeldOut(task, b));
    }
  });

  it('holds out about a fifth of each small problem space and leaves both sides hundreds of problems (counted)', () => {
    // multiplication level 1: every 2-digit × 2..9 problem
    let held = 0;
    for (let a = 10; a < 100; a++) for (let b = 2; b < 10; b++) held += isHeldOut(MULTIPLICATION, `${a}*${b}=`) ? 1 : 0;
    expect([held, 720 - held]).toEqual([134, 586]);
    // addition level 1: every unordered pair of 2-digit numbers
    held = 0;
    for (let a = 10; a < 100; a++) for (let b = a; b < 100; b++) held += isHeldOut(ADDITION, `${a}+${b}=`) ? 1 : 0;
    expect([held, 4095 - held]).toEqual([868, 3227]);
    // countdown level 1: the generator's 1,852 distinct prompts, reached by drawing
    const all = new Set<string>();
    const rng = new Rng(9);
    for (let i = 0; i < 100_000; i++) all.add(COUNTDOWN.generate(rng, 1, 'none').prompt);
    const cdHeld = [...all].filter((p) => isHeldOut(COUNTDOWN, p)).length;
    expect(all.size).toBeGreaterThan(1800);
    expect(cdHeld).toBeGreaterThan(300);
    expect(all.size - cdHeld).toBeGreaterThan(1200);
    expect(Math.abs(held / 4095 - HELD_OUT_FRACTION)).toBeLessThan(0.03);
  });

  it.each(TASKS.flatMap((t) => t.difficulties.map((d) => [t.id, d] as const)))('%s level %i: both sides offer many distinct problems', (id, d) => {
    const task = TASKS.find((t) => t.id === id)!;
    const evalSide = draws(task, d, 'eval', 2000, 1);
    const trainSide = draws(task, d, 'train', 2000, 2);
    expect(evalSide.every((p) => isHeldOut(task, p))).toBe(true);
    expect(trainSide.some((p) => isHeldOut(task, p))).toBe(false);
    // 2,000 draws: level 1 of multiplication has only 134 held-out problems, countdown level 1 about 386
    const floor = d === 1 && id !== 'addition' ? 120 : 500;
    expect(distinct(task, evalSide).size).toBeGreaterThanOrEqual(floor);
    expect(distinct(task, trainSide).size).toBeGreaterThanOrEqual(floor);
  });

  it.each(TASKS.flatMap((t) => t.difficulties.map((d) => [t.id, d] as const)))('%s level %i: no evaluation problem occurs in a generated training corpus', (id, d) => {
    const task = TASKS.find((t) => t.id === id)!;
    const evalProblems = distinct(task, draws(task, d, 'eval', 300, 3));
    const examples = reasoningExamples({ tasks: [id], difficulty: d, examples: 4000, seed: 4 });
    // by construction: every training example is on the training side...
    expect(examples.filter((e) => isHeldOut(task, e.prompt)).map((e) => e.prompt)).toEqual([]);
    const trained = distinct(task, examples.map((e) => e.prompt));
    expect([...evalProblems].filter((p) => trained.has(p))).toEqual([]);
    // ...and verbatim: no evaluation prompt stands in the text as a training example's question
    const text = END_OF_TEXT_TEXT + examples.map((e) => e.text).join('');
    const verbatim = draws(task, d, 'eval', 300, 3).filter((p) => text.includes(END_OF_TEXT_TEXT + p + THINK_TEXT));
    expect(verbatim).toEqual([]);
    if (d === 1) {
      // the check can fail: as many draws without the split do meet evaluation problems at this level
      const rng = new Rng(4);
      const plain = distinct(task, Array.from({ length: 4000 }, () => task.generate(rng, d, 'none').prompt));
      expect([...evalProblems].filter((p) => plain.has(p)).length).toBeGreaterThan(20);
    }
  });
});
