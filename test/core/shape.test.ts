import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { assertRank, assertShape } from '../../src/core/shape.js';
import { ShapeError } from '../../src/errors.js';

describe('assertShape', () => {
  it('accepts matching shapes, wildcards and consistent named dims', () => {
    const dims: Record<string, number> = {};
    assertShape([4, 3, 8, 8], ['B', 3, null, null], 'x', 'f', dims);
    expect(dims).toEqual({ B: 4 });
    assertShape([4], ['B'], 'y', 'f', dims);
    const t = tf.zeros([2, 5]);
    assertShape(t, [2, 5], 't');
    t.dispose();
  });

  it('names the argument, the function, what it got and what it expected', () => {
    const dims: Record<string, number> = {};
    assertShape([8], ['B2'], 'policyChosen', 'diffusionDpoLoss', dims);
    expect(() => assertShape([3], ['B2'], 'policyRejected', 'diffusionDpoLoss', dims)).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'policyRejected' to diffusionDpoLoss has shape [3], expected [B2=8].]`,
    );
    expect(() => assertShape([2, 3], [2, 3, null], 'x', 'unet')).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'x' to unet has shape [2, 3], expected [2, 3, *].]`,
    );
  });

  it('fills the ShapeError fields', () => {
    try {
      assertShape([2, 4], [2, 'C'], 'x', 'f', { C: 3 });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ShapeError);
      const s = e as ShapeError;
      expect(s.code).toBe('SHAPE_MISMATCH');
      expect(s.argument).toBe('x');
      expect(s.actual).toEqual([2, 4]);
      expect(s.expected).toEqual([2, 3]);
    }
  });

  it('assertRank checks the rank only', () => {
    const t = tf.zeros([1, 2, 3]);
    assertRank(t, 3, 't');
    expect(() => assertRank(t, 4, 'latents', 'encode')).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'latents' to encode has rank 3 (shape [1, 2, 3]), expected rank 4.]`,
    );
    t.dispose();
  });
});
