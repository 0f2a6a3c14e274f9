import { describe, expect, it } from 'vitest';
import { lrFactor } from '../../src/train/lr-schedule.js';

describe('lrFactor', () => {
  it('warms up linearly from 0 (Hugging Face semantics: step/warmup)', () => {
    const c = { kind: 'constant' as const, warmupSteps: 4 };
    expect([0, 1, 2, 3, 4, 50].map((s) => lrFactor(s, 100, c))).toEqual([0, 0.25, 0.5, 0.75, 1, 1]);
  });
  it('decays linearly to 0 at maxSteps', () => {
    const c = { kind: 'linear' as const, warmupSteps: 10 };
    expect(lrFactor(10, 110, c)).toBe(1);
    expect(lrFactor(60, 110, c)).toBe(0.5);
    expect(lrFactor(110, 110, c)).toBe(0);
    expect(lrFactor(200, 110, c)).toBe(0);
  });
  it('follows a half cosine after warm-up', () => {
    const c = { kind: 'cosine' as const, warmupSteps: 0 };
    expect(lrFactor(0, 100, c)).toBe(1);
    expect(lrFactor(50, 100, c)).toBeCloseTo(0.5, 12);
    expect(lrFactor(25, 100, c)).toBeCloseTo(0.5 * (1 + Math.SQRT1_2), 12);
    expect(lrFactor(100, 100, c)).toBeCloseTo(0, 12);
  });
});
