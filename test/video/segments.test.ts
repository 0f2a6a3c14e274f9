import { describe, expect, it } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { segmentRanges } from '../../src/video/index.js';
import { isConfigError } from '../../src/errors.js';

describe('segmentRanges', () => {
  it('cuts consecutive segments of S frames with a shorter last one', () => {
    expect(segmentRanges(10, { segmentFrames: 4 })).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
      { start: 8, end: 10 },
    ]);
    expect(segmentRanges(8, { segmentFrames: 4 })).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
    ]);
    expect(segmentRanges(3, { segmentFrames: 5 })).toEqual([{ start: 0, end: 3 }]);
  });

  it('converts seconds at a frame rate to frames (rounded, at least 1)', () => {
    expect(segmentRanges(16, { segmentSeconds: 1, fps: 8 })).toEqual([
      { start: 0, end: 8 },
      { start: 8, end: 16 },
    ]);
    // 0.5 s at 5 fps = 2.5 frames -> 3 (Math.round)
    expect(segmentRanges(7, { segmentSeconds: 0.5, fps: 5 }).map((r) => r.end - r.start)).toEqual([3, 3, 1]);
    expect(segmentRanges(3, { segmentSeconds: 0.01, fps: 8 })).toHaveLength(3);
  });

  it('rejects bad arguments with a ConfigError naming the value', () => {
    expect(() => segmentRanges(0, { segmentFrames: 2 })).toThrowErrorMatchingInlineSnapshot(`[ConfigError: segmentRanges: T must be a positive integer number of frames, got 0.]`);
    expect(() => segmentRanges(4, { segmentFrames: 1.5 })).toThrowErrorMatchingInlineSnapshot(`[ConfigError: segmentRanges: segmentFrames must be a positive integer, got 1.5.]`);
    expect(() => segmentRanges(4, { segmentSeconds: 1, fps: 0 })).toThrow(/fps must be a positive number, got 0/);
    try {
      segmentRanges(4, {} as never);
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
    }
  });

  fcTest.prop([fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 64 })], { seed: 7, numRuns: 200 })(
    'covers [0, T) exactly once with ceil(T/S) ranges',
    (T, S) => {
      const r = segmentRanges(T, { segmentFrames: S });
      expect(r).toHaveLength(Math.ceil(T / S));
      let next = 0;
      for (const { start, end } of r) {
        expect(start).toBe(next);
        expect(end).toBeGreaterThan(start);
        expect(end - start).toBeLessThanOrEqual(S);
        next = end;
      }
      expect(next).toBe(T);
    },
  );
});
