import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { agreement, labelCategory } from '../../src/vlm/agreement.js';

describe('agreement', () => {
  it("gives Cohen's kappa 0.4 on the textbook 2x2 example (20/5/10/15)", () => {
    // Rater A yes/no vs rater B: yes-yes 20, yes-no 5, no-yes 10, no-no 15.
    // p_o = 35/50 = 0.7; p_e = 0.5*0.6 + 0.5*0.4 = 0.5; kappa = 0.2/0.5 = 0.4.
    const a: number[] = [];
    const b: number[] = [];
    const add = (x: number, y: number, n: number) => {
      for (let i = 0; i < n; i++) {
        a.push(x);
        b.push(y);
      }
    };
    add(1, 1, 20);
    add(1, 0, 5);
    add(0, 1, 10);
    add(0, 0, 15);
    const r = agreement(a, b);
    expect(r.n).toBe(50);
    expect(r.accuracy).toBeCloseTo(0.7, 12);
    expect(r.kappa).toBeCloseTo(0.4, 12);
    expect(r.confusion).toEqual([
      [20, 5, 0],
      [10, 15, 0],
      [0, 0, 0],
    ]);
  });
  it('handles three categories, soft labels and missing entries (hand-derived)', () => {
    // pairs (pred, human): (first, first) x2, (tie, tie), (second, first), (first, second); one missing each side.
    const pred = ['first', 0.9, 'tie', 'second', 1, undefined, 'first'] as const;
    const human = [1, 'first', 0.5, 0.7, 0.2, 1, null] as const;
    const r = agreement([...pred], [...human]);
    // n = 5, p_o = 3/5. Row marginals (pred): first 3, second 1, tie 1; column (human): first 3, second 1, tie 1.
    // p_e = (9 + 1 + 1) / 25 = 0.44; kappa = (0.6 - 0.44) / 0.56 = 0.2857142857...
    expect(r.n).toBe(5);
    expect(r.accuracy).toBeCloseTo(0.6, 12);
    expect(r.kappa).toBeCloseTo(0.16 / 0.56, 12);
  });
  it('matches numpy goldens on random three-category labels (test/golden/cohen-kappa.json)', () => {
    const golden = JSON.parse(readFileSync(new URL('../golden/cohen-kappa.json', import.meta.url), 'utf8')) as {
      categories: string[];
      cases: { predicted: number[]; human: number[]; accuracy: number; kappa: number; confusion: number[][] }[];
    };
    for (const c of golden.cases) {
      const cat = (k: number) => golden.categories[k] as 'first' | 'second' | 'tie';
      const r = agreement(c.predicted.map(cat), c.human.map(cat));
      expect(r.n).toBe(c.predicted.length);
      expect(r.accuracy).toBeCloseTo(c.accuracy, 12);
      expect(r.kappa).toBeCloseTo(c.kappa, 12);
      expect(r.confusion).toEqual(c.confusion);
    }
  });
  it('is 1 for perfect agreement, NaN when undefined, and validates input', () => {
    expect(agreement(['first', 'second'], [1, 0]).kappa).toBe(1);
    expect(agreement(['first', 'first'], [1, 1]).kappa).toBeNaN();
    expect(agreement([], []).accuracy).toBeNaN();
    expect(() => agreement(['first'], [])).toThrow(/equal length/);
    expect(() => labelCategory(1.5)).toThrow(/outside \[0, 1\]/);
  });
});
