/**
 * SmPO-Diffusion — Smoothed Preference Optimization (Lu et al., ICML 2025).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { assertPairErrors, diffusionScores, type PairErrors } from './diffusion-dpo.js';
import { assertValuesInRange } from './labels.js';
import { assertBeta, preferenceLoss } from './preference.js';
import type { LossOutput } from './types.js';

/** Options of {@link smpoLoss}. */
export interface SmpoOptions {
  /** β in the −½β convention (recipes: 2000 for SD1.5, 5000 for SDXL). */
  beta: number;
  /** Soft label p ∈ [0, 1] per pair `[B]` (1 = chosen fully preferred, ½ = tie). */
  preference: tf.Tensor1D;
  /** k, the constant factor on (2p − 1): 10 in the official code (default), 1 for the paper's form. */
  scale?: number;
}

/**
 * SmPO loss: Diffusion-DPO with a per-pair β scaled by the preference strength.
 *
 * Symbols: p = `preference`, k = `scale`, other symbols as {@link diffusionDpoLoss}.
 * 1. z = −½·β·(2p − 1)·k·((err_θ(w) − err_θ(l)) − (err_ref(w) − err_ref(l)))   [B]
 * 2. loss = mean_b −log σ(z)
 *
 * As JaydenLyh/SmPO `train.py` (HEAD 8922d54): `scale_term = -0.5 * beta_dpo * (2p - 1) * 10`,
 * vectorised per pair (the official code reads p of the first sample only; it runs batch 1).
 * p = ½ gives ln 2 and zero gradient; p < ½ reverses the pair. The errors there come from
 * ReNoise inversion targets (see the diffusion module). `rewards/*` use the effective β·(2p − 1)·k.
 *
 * @param errors - `{ policyChosen, policyRejected, refChosen, refRejected }` `[B]`.
 * @param options - `{ beta, preference [B], scale = 10 }`.
 * @returns `{ loss, metrics }` (as {@link diffusionDpoLoss}).
 * @throws {ShapeError} naming the argument whose shape is not `[B]`.
 * @throws {ConfigError} when p is outside [0, 1] (or NaN), β ≤ 0 or scale ≤ 0.
 * @see https://arxiv.org/abs/2506.02698 (SmPO, Eq. 9: (2α − γ) = k(2p − 1))
 * @example
 * const p = softPreference(scoreChosen, scoreRejected);
 * const { loss } = smpoLoss(errors, { beta: 2000, preference: p });
 */
export function smpoLoss(errors: PairErrors, options: SmpoOptions): LossOutput {
  const fn = 'smpoLoss';
  assertBeta(options?.beta, fn);
  assertPairErrors(errors, fn);
  const scale = options?.scale ?? 10;
  if (!(Number.isFinite(scale) && scale > 0)) throw new ConfigError(`Option 'scale' to ${fn} is ${String(scale)}, expected a finite number > 0.`);
  if (!(options?.preference instanceof tf.Tensor)) throw new ConfigError(`Option 'preference' to ${fn} is missing (expected a tensor [B] of soft labels in [0, 1]).`);
  assertShape(options.preference, [errors.policyChosen.shape[0]], 'preference', fn);
  assertValuesInRange(options.preference, 0, 1, 'preference', fn);
  return tf.tidy(() => {
    const s = diffusionScores(errors);
    const betaScale = tf.mul(tf.sub(tf.mul(2, options.preference), 1), scale) as tf.Tensor1D; // (2p − 1)·k, [B]
    const out = preferenceLoss({ chosen: s.chosen, rejected: s.rejected }, { beta: options.beta, betaScale });
    return { loss: out.loss, metrics: { ...out.metrics, ...s.metrics } };
  });
}

/** PickScore normalisation bounds hard-coded in SmPO's `train.py`/`preprocessing.py`. */
export const SMPO_PICKSCORE_RANGE = { min: 0.11543526500463486, max: 0.28201571106910706 } as const;

/** Options of {@link softPreference}. */
export interface SoftPreferenceOptions {
  /** Score mapped to 0 (default SmPO's PickScore minimum 0.11543526500463486). */
  min?: number;
  /** Score mapped to 1 (default SmPO's PickScore maximum 0.28201571106910706). */
  max?: number;
}

/**
 * Turn two reward scores into SmPO's soft label: n = (s − min)/(max − min), p = σ(n_c − n_r)
 * (= e^{n_c}/(e^{n_c} + e^{n_r})).
 *
 * The defaults are SmPO's constants for raw PickScore cosine similarities (no logit scale).
 * SmPO orders each pair by score, so its p is ≥ ½; here the pair order is the caller's and p < ½
 * means the rejected sample scores higher.
 *
 * @param scoreChosen - reward scores of the chosen samples `[B]`.
 * @param scoreRejected - reward scores of the rejected samples `[B]`.
 * @param options - `{ min, max }` normalisation bounds (max > min).
 * @returns p ∈ (0, 1) `[B]`.
 * @throws {ShapeError} when the two score tensors differ in shape or are not rank 1.
 * @throws {ConfigError} when max ≤ min.
 * @see https://arxiv.org/abs/2506.02698 (SmPO); JaydenLyh/SmPO `preprocess_train`
 * @example
 * softPreference(tf.tensor1d([0.25]), tf.tensor1d([0.2])); // ≈ [0.575]
 */
export function softPreference(scoreChosen: tf.Tensor1D, scoreRejected: tf.Tensor1D, options: SoftPreferenceOptions = {}): tf.Tensor1D {
  const fn = 'softPreference';
  const min = options.min ?? SMPO_PICKSCORE_RANGE.min;
  const max = options.max ?? SMPO_PICKSCORE_RANGE.max;
  if (!(Number.isFinite(min) && Number.isFinite(max) && max > min)) {
    throw new ConfigError(`Options 'min'/'max' to ${fn} are ${min}/${max}, expected finite numbers with max > min.`);
  }
  const dims: Record<string, number> = {};
  assertShape(scoreChosen, ['B'], 'scoreChosen', fn, dims);
  assertShape(scoreRejected, ['B'], 'scoreRejected', fn, dims);
  return tf.tidy(() => {
    const nC = tf.div(tf.sub(scoreChosen, min), max - min); // [B]
    const nR = tf.div(tf.sub(scoreRejected, min), max - min); // [B]
    return tf.sigmoid(tf.sub(nC, nR)) as tf.Tensor1D; // [B]
  });
}
