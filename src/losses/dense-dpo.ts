/**
 * DenseDPO — fine-grained temporal preference optimisation for video diffusion (Wu et al. 2025).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { assertValuesIn } from './labels.js';
import { assertBeta, preferenceLoss } from './preference.js';
import { countNonFinite } from './stable.js';
import type { LossOutput } from './types.js';

/** Per-segment denoising errors of the two videos of a pair (each `[B, F]`, from {@link segmentErrors}). */
export type SegmentPairErrors = {
  /** err_θ per segment of video A `[B, F]`. */
  policyA: tf.Tensor2D;
  /** err_θ per segment of video B `[B, F]`. */
  policyB: tf.Tensor2D;
  /** err_ref per segment of video A `[B, F]`. */
  refA: tf.Tensor2D;
  /** err_ref per segment of video B `[B, F]`. */
  refB: tf.Tensor2D;
}

/** Options of {@link denseDpoLoss}. */
export interface DenseDpoOptions {
  /** β in the −½β convention. */
  beta: number;
  /** Per-segment labels `[B, F]`: +1 (A better), −1 (B better), 0 (tie, ignored). */
  labels: tf.Tensor2D;
}

/**
 * DenseDPO loss: one Diffusion-DPO margin per temporal segment, signed by the segment's label,
 * averaged over the decisive segments pooled over the batch.
 *
 * Symbols: e_θ^A, e_θ^B, e_ref^A, e_ref^B = segment errors `[B, F]`; y = `labels`.
 * 1. z_A = −½·β·((e_θ^A − e_θ^B) − (e_ref^A − e_ref^B))      [B, F]  ("A wins" orientation)
 * 2. z = y·z_A; the chosen side of a segment is A when y = +1, B when y = −1
 * 3. loss = Σ_{y ≠ 0} −log σ(z) / #{y ≠ 0}  (pooled over the batch, not a mean of per-video means)
 * 4. no decisive segment: loss 0 with zero gradients and `rewards/accuracies` NaN (not available;
 *    the key stays, so the set of metric names never changes between steps)
 *
 * **Convention (our choice; DenseDPO has no official code):** see research notes §5/§9(d).
 * With F = 1 and every label +1 this is exactly {@link diffusionDpoLoss}. Metrics as
 * Diffusion-DPO over the decisive segments, plus `count/decisive`; `loss/policy` and `loss/ref`
 * average all segments.
 *
 * The labels are read synchronously to validate them (they are data).
 *
 * @param errors - `{ policyA, policyB, refA, refB }`, each `[B, F]`.
 * @param options - `{ beta, labels [B, F] }`.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} naming the argument whose shape is not `[B, F]`.
 * @throws {ConfigError} when a label is not in {+1, −1, 0}, or β ≤ 0.
 * @see https://arxiv.org/abs/2506.03517 (DenseDPO)
 * @example
 * const { loss } = denseDpoLoss({ policyA, policyB, refA, refB }, { beta: 5000, labels });
 */
export function denseDpoLoss(errors: SegmentPairErrors, options: DenseDpoOptions): LossOutput {
  const fn = 'denseDpoLoss';
  assertBeta(options?.beta, fn);
  if (!errors || typeof errors !== 'object') throw new ConfigError(`The first argument to ${fn} must be an object of error tensors.`);
  const dims: Record<string, number> = {};
  for (const k of ['policyA', 'policyB', 'refA', 'refB'] as const) {
    if (!(errors[k] instanceof tf.Tensor)) throw new ConfigError(`Argument '${k}' to ${fn} is missing (expected a tensor of shape [B, F]).`);
    assertShape(errors[k], ['B', 'F'], k, fn, dims);
  }
  if (!(options?.labels instanceof tf.Tensor)) throw new ConfigError(`Option 'labels' to ${fn} is missing (expected a tensor [B, F] of +1, -1, 0).`);
  assertShape(options.labels, ['B', 'F'], 'labels', fn, dims);
  const values = assertValuesIn(options.labels, [1, -1, 0], 'labels', fn);
  let decisive = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) decisive++;

  return tf.tidy(() => {
    const n = errors.policyA.size;
    const y = tf.reshape(tf.cast(options.labels, 'float32'), [n]) as tf.Tensor1D; // [N = B·F]
    const aWins = tf.greater(y, 0); // [N]
    const flat = (t: tf.Tensor) => tf.reshape(t, [n]) as tf.Tensor1D;
    const pA = flat(errors.policyA), pB = flat(errors.policyB), rA = flat(errors.refA), rB = flat(errors.refB);
    const rewardA = tf.mul(-0.5, tf.sub(pA, rA)) as tf.Tensor1D; // r_A [N]
    const rewardB = tf.mul(-0.5, tf.sub(pB, rB)) as tf.Tensor1D; // r_B [N]
    const chosen = tf.where(aWins, rewardA, rewardB) as tf.Tensor1D; // [N]
    const rejected = tf.where(aWins, rewardB, rewardA) as tf.Tensor1D; // [N]
    const weights = tf.abs(y) as tf.Tensor1D; // 1 decisive, 0 tie
    const out = preferenceLoss({ chosen, rejected }, { beta: options.beta, weights });
    const metrics: Record<string, tf.Scalar> = {
      ...out.metrics,
      'loss/policy': tf.mul(0.5, tf.add(tf.mean(pA), tf.mean(pB))),
      'loss/ref': tf.mul(0.5, tf.add(tf.mean(rA), tf.mean(rB))),
      'count/decisive': tf.scalar(decisive),
      nonFinite: countNonFinite(errors.policyA, errors.policyB, errors.refA, errors.refB),
    };
    return { loss: out.loss, metrics };
  });
}
