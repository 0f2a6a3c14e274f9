/**
 * The shared preference core: per-pair implicit log-ratios → margin → link → weights → mean,
 * plus TRL-named metrics. Every paired loss in prefkit is a thin adapter over
 * {@link preferenceLoss}.
 *
 * **The β convention (stated once, here).** For diffusion models the implicit log-ratio of a
 * sample is r = −½·(err_θ − err_ref), with err the per-sample mean squared denoising error
 * ({@link denoisingError}); the margin is m = r_chosen − r_rejected and the link argument is
 *
 *     z = β·m = −½·β·((err_θ(w) − err_θ(l)) − (err_ref(w) − err_ref(l)))
 *
 * exactly the `inside_term` of the official Diffusion-DPO code (SalesforceAIResearch/DiffusionDPO
 * `train.py`) and diffusers' `train_diffusion_dpo_sdxl.py` (`scale_term = -0.5 * beta_dpo`), also
 * used by DCPO and SmPO. diffusers' SD1.5 script `train_diffusion_dpo.py` writes
 * `beta * (ref_diff − model_diff)`, so its β is half of ours: see {@link betaFromDiffusersSd15}.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { type Link, LINKS, linkLoss } from './links.js';
import type { LossOutput } from './types.js';

/** Per-pair scores: implicit log-ratios r (before β) of the chosen and the rejected sample. */
export type PreferenceScores = {
  /** r of the chosen sample per pair `[N]`. */
  chosen: tf.Tensor1D;
  /** r of the rejected sample per pair `[N]`. */
  rejected: tf.Tensor1D;
}

/** Options of {@link preferenceLoss}. */
export interface PreferenceOptions {
  /** β > 0. z = β·(r_chosen − r_rejected). */
  beta: number;
  /** The link; default `'sigmoid'`. */
  link?: Link;
  /** ε: label smoothing for `smoothed` (cDPO), flip rate for `robust` (rDPO). Default 0. */
  labelSmoothing?: number;
  /** Soft label p ∈ [0, 1] per pair `[N]` for the `smoothed` link (overrides ε). */
  preference?: tf.Tensor1D;
  /** Per-pair multiplier s of β `[N]` (SmPO's (2p − 1)·k): z = β·s·m. Rewards use β·s too. */
  betaScale?: tf.Tensor1D;
  /**
   * Per-pair weights w ≥ 0 `[N]`. The loss and the metrics become Σ w·x / Σ w; with Σ w = 0 the
   * loss is 0 with zero gradients and `rewards/accuracies` is NaN (not available).
   */
  weights?: tf.Tensor1D;
  /** Per-pair SFT loss `[N]` (the chosen sample's denoising error), added with `sftWeight`. */
  sft?: tf.Tensor1D;
  /** λ of the SFT term: loss = preference loss + λ·mean(sft). Default 0 (no term). */
  sftWeight?: number;
}

/** Throw a {@link ConfigError} naming `fn` unless β is a finite number > 0. @internal */
export function assertBeta(beta: unknown, fn: string): asserts beta is number {
  if (!(typeof beta === 'number' && Number.isFinite(beta) && beta > 0)) {
    throw new ConfigError(`Option 'beta' to ${fn} is ${String(beta)}, expected a finite number > 0.`);
  }
}

/** Σ w·x / Σ w (or the mean without weights); Σ w = 0 gives 0 with zero gradients. @internal */
export function weightedMean(x: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    if (!weights) return tf.mean(x);
    const w = weights;
    const wx = tf.where(tf.greater(w, 0), tf.mul(w, x), tf.zerosLike(x)); // [N]; masked entries never reach the sum
    const sw = tf.sum(w);
    const denom = tf.where(tf.equal(sw, 0), tf.onesLike(sw), sw);
    return tf.div(tf.sum(wx), denom);
  });
}

/**
 * Fraction of pairs with z > 0, ties (z = 0) counting ½, as diffusers' `implicit_acc`
 * (`mean(z > 0) + 0.5·mean(z == 0)`). Weighted: Σ w·acc / Σ w, NaN when Σ w = 0. @internal
 */
export function implicitAccuracy(z: tf.Tensor1D, weights?: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const acc = tf.add(tf.cast(tf.greater(z, 0), 'float32'), tf.mul(0.5, tf.cast(tf.equal(z, 0), 'float32'))) as tf.Tensor1D;
    if (!weights) return tf.mean(acc);
    return tf.div(tf.sum(tf.mul(weights, acc)), tf.sum(weights));
  });
}

/**
 * The shared preference loss: margin → link → weights → mean, plus TRL-named metrics.
 *
 * Symbols: r_w, r_l = `scores.chosen`, `scores.rejected` (implicit log-ratios before β);
 * β = `beta`; s = `betaScale` (1 when absent); w = `weights`.
 * 1. m = r_w − r_l, z = β·s·m                        [N]
 * 2. ℓ = link(z) (see {@link linkLoss})               [N]
 * 3. loss = Σ w·ℓ / Σ w (mean without weights) + λ_sft·mean(sft)
 * 4. metrics `rewards/chosen` = mean β·s·r_w, `rewards/rejected` = mean β·s·r_l,
 *    `rewards/margins` = mean z, `rewards/accuracies` = mean(z > 0) + ½·mean(z = 0),
 *    `loss/sft` when λ_sft > 0.
 *
 * Numerically stable for |z| up to 1e4 and beyond (softplus forms).
 *
 * @param scores - `{ chosen [N], rejected [N] }`.
 * @param options - see {@link PreferenceOptions}.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} when a per-pair tensor is not `[N]`.
 * @throws {ConfigError} for β ≤ 0, an unknown link or ε out of range.
 * @see https://arxiv.org/abs/2305.18290 (DPO, Eq. 7), https://arxiv.org/abs/2311.12908 (Diffusion-DPO, Eq. 14)
 * @example
 * const { loss, metrics } = preferenceLoss({ chosen: rW, rejected: rL }, { beta: 5000 });
 */
export function preferenceLoss(scores: PreferenceScores, options: PreferenceOptions): LossOutput {
  const fn = 'preferenceLoss';
  const { beta } = options;
  const link = options.link ?? 'sigmoid';
  assertBeta(beta, fn);
  if (!(LINKS as readonly string[]).includes(link)) {
    throw new ConfigError(`Unknown link "${String(link)}". Expected one of: ${LINKS.join(', ')}.`);
  }
  const sftWeight = options.sftWeight ?? 0;
  if (!(sftWeight >= 0 && Number.isFinite(sftWeight))) {
    throw new ConfigError(`Option 'sftWeight' to ${fn} is ${String(sftWeight)}, expected a finite number >= 0.`);
  }
  const dims: Record<string, number> = {};
  assertShape(scores.chosen, ['N'], 'chosen', fn, dims);
  assertShape(scores.rejected, ['N'], 'rejected', fn, dims);
  if (options.preference) assertShape(options.preference, ['N'], 'preference', fn, dims);
  if (options.betaScale) assertShape(options.betaScale, ['N'], 'betaScale', fn, dims);
  if (options.weights) assertShape(options.weights, ['N'], 'weights', fn, dims);
  if (options.sft) assertShape(options.sft, ['N'], 'sft', fn, dims);
  if (sftWeight > 0 && !options.sft) {
    throw new ConfigError(`Option 'sftWeight' to ${fn} is ${sftWeight} but no 'sft' losses were given.`);
  }

  return tf.tidy(() => {
    const w = options.weights;
    const b: tf.Tensor = options.betaScale ? tf.mul(beta, options.betaScale) : tf.scalar(beta); // β·s, [N] or []
    const rewardChosen = tf.mul(b, scores.chosen) as tf.Tensor1D; // [N]
    const rewardRejected = tf.mul(b, scores.rejected) as tf.Tensor1D; // [N]
    const z = tf.mul(b, tf.sub(scores.chosen, scores.rejected)) as tf.Tensor1D; // [N]
    const perPair = linkLoss(link, { z, beta, labelSmoothing: options.labelSmoothing, preference: options.preference }); // [N]
    let loss = weightedMean(perPair, w);
    const metrics: Record<string, tf.Scalar> = {
      'rewards/chosen': weightedMean(rewardChosen, w),
      'rewards/rejected': weightedMean(rewardRejected, w),
      'rewards/margins': weightedMean(z, w),
      'rewards/accuracies': implicitAccuracy(z, w),
    };
    if (sftWeight > 0 && options.sft) {
      const sft = weightedMean(options.sft, w);
      metrics['loss/sft'] = sft;
      loss = tf.add(loss, tf.mul(sftWeight, sft));
    }
    return { loss, metrics };
  });
}
