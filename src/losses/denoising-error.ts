/**
 * Per-sample and per-segment denoising errors, the inputs of every diffusion preference loss.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError } from '../errors.js';

function assertSameShape(pred: tf.Tensor, target: tf.Tensor, fn: string): void {
  const same = pred.rank === target.rank && pred.shape.every((d, i) => d === target.shape[i]);
  if (!same) {
    throw new ShapeError(
      `Argument 'target' to ${fn} has shape [${target.shape.join(', ')}], expected the shape of 'pred' [${pred.shape.join(', ')}].`,
      { argument: 'target', actual: [...target.shape], expected: [...pred.shape] },
    );
  }
}

/**
 * Per-sample denoising error: the mean over all non-batch elements of (pred − target)².
 *
 * This is `F.mse_loss(pred, y, reduction="none").mean(dim=[1, ...])` as in the official
 * Diffusion-DPO code, diffusers' DPO scripts, DCPO, SmPO, Diffusion-KTO and MaPO: a **mean**, never
 * a sum (a sum would rescale β by the element count). Layout agnostic (NHWC or NCHW alike).
 *
 * @param pred - model prediction `[B, ...]` (ε, v or flow velocity), rank ≥ 2.
 * @param target - training target, same shape as `pred`.
 * @returns the errors `[B]`.
 * @throws {ShapeError} when `pred` has rank < 2 or `target`'s shape differs from `pred`'s.
 * @see https://arxiv.org/abs/2311.12908 (Diffusion-DPO, Eq. 14, with ‖·‖² replaced by a mean as in the code)
 * @example
 * const err = denoisingError(model.predict(xt), noise); // [B]
 */
export function denoisingError(pred: tf.Tensor, target: tf.Tensor): tf.Tensor1D {
  if (pred.rank < 2) {
    throw new ShapeError(`Argument 'pred' to denoisingError has shape [${pred.shape.join(', ')}], expected rank >= 2 ([B, ...]).`, {
      argument: 'pred',
      actual: [...pred.shape],
    });
  }
  assertSameShape(pred, target, 'denoisingError');
  return tf.tidy(() => {
    const axes = Array.from({ length: pred.rank - 1 }, (_, i) => i + 1);
    return tf.mean(tf.squaredDifference(pred, target), axes) as tf.Tensor1D; // [B]
  });
}

/** Options of {@link segmentErrors}. */
export interface SegmentErrorOptions {
  /** Frames per segment S ≥ 1; segments are [0, S), [S, 2S), …, the last one possibly shorter. */
  segmentFrames: number;
}

/**
 * Per-segment denoising errors for video: frames are grouped into consecutive segments of
 * `segmentFrames` frames (the last one possibly shorter), each error the mean over its frames and
 * H, W, C. `F = ⌈T / S⌉`.
 *
 * @param pred - prediction `[B, T, H, W, C]`.
 * @param target - target, same shape.
 * @param options - `{ segmentFrames }` (S, an integer ≥ 1).
 * @returns the errors `[B, F]`.
 * @throws {ShapeError} when `pred` is not rank 5 or `target`'s shape differs.
 * @throws {ConfigError} when `segmentFrames` is not a positive integer.
 * @see https://arxiv.org/abs/2506.03517 (DenseDPO: per-segment preferences)
 * @example
 * const errA = segmentErrors(predA, targetA, { segmentFrames: 4 }); // [B, F]
 */
export function segmentErrors(pred: tf.Tensor, target: tf.Tensor, options: SegmentErrorOptions): tf.Tensor2D {
  const s = options?.segmentFrames;
  if (!Number.isInteger(s) || s < 1) {
    throw new ConfigError(`Option 'segmentFrames' to segmentErrors is ${String(s)}, expected an integer >= 1.`, {
      source: 'segmentErrors options',
    });
  }
  if (pred.rank !== 5) {
    throw new ShapeError(`Argument 'pred' to segmentErrors has shape [${pred.shape.join(', ')}], expected [B, T, H, W, C].`, {
      argument: 'pred',
      actual: [...pred.shape],
      expected: [null, null, null, null, null],
    });
  }
  assertSameShape(pred, target, 'segmentErrors');
  const [b, t] = pred.shape as [number, number, number, number, number];
  return tf.tidy(() => {
    const perFrame = tf.mean(tf.squaredDifference(pred, target), [2, 3, 4]); // [B, T]
    const f = Math.ceil(t / s);
    const full = Math.floor(t / s);
    const parts: tf.Tensor[] = [];
    if (full > 0) {
      const head = tf.slice(perFrame, [0, 0], [b, full * s]); // [B, full·S]
      parts.push(tf.mean(tf.reshape(head, [b, full, s]), 2)); // [B, full]
    }
    if (f > full) {
      const tail = tf.slice(perFrame, [0, full * s], [b, t - full * s]); // [B, T mod S]
      parts.push(tf.mean(tail, 1, true)); // [B, 1]
    }
    return (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D; // [B, F]
  });
}
