/**
 * MaPO — Margin-aware Preference Optimization (Hong et al. 2024), reference-free.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { implicitAccuracy } from './preference.js';
import { countNonFinite, negLogSigmoid } from './stable.js';
import type { LossOutput } from './types.js';

/** Per-sample policy denoising errors of a pair batch (no reference model). */
export type PolicyPairErrors = {
  /** err_θ of the chosen samples `[B]`. */
  policyChosen: tf.Tensor1D;
  /** err_θ of the rejected samples `[B]`. */
  policyRejected: tf.Tensor1D;
}

/** Options of {@link mapoLoss}. */
export interface MapoOptions {
  /** β_MaPO, weight of the margin (odds-ratio) term; official default 0.1. */
  beta?: number;
  /** s, the official `--snr_value`; default 0.5. */
  snr?: number;
  /** T, the scheduler's `num_train_timesteps`; default 1000. */
  numTrainTimesteps?: number;
}

// x / (eˣ − 1) for x ≥ 0 (the errors are ≥ 0), finite with a finite gradient everywhere:
// a Taylor series near 0 (where the official form is 0/0), x·e^{−x}/(1 − e^{−x}) elsewhere.
const SERIES_BELOW = 0.1;
function bernoulliRatio(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    // Masks via step + cast (both differentiable as zero): Less/Greater have no gradient in tfjs.
    const small = tf.cast(tf.step(tf.sub(SERIES_BELOW, tf.abs(x))), 'bool');
    const xs = tf.where(small, x, tf.zerosLike(x)); // the series' input, 0 where unused
    const x2 = tf.square(xs);
    // 1 − x/2 + x²/12 − x⁴/720 + x⁶/30240 (error < 1e-14 for |x| < 0.1)
    const series = tf.add(tf.sub(1, tf.div(xs, 2)), tf.mul(x2, tf.add(1 / 12, tf.mul(x2, tf.add(-1 / 720, tf.div(x2, 30240))))));
    const xl = tf.where(small, tf.onesLike(x), x); // the closed form's input, 1 where unused
    // a = e^{−|x|} ∈ (0, 0.905] here, so no division by zero even in the branch not taken.
    // x ≥ 0.1: x·e^{−x} / (1 − e^{−x}); x ≤ −0.1: x / (eˣ − 1). Both stay finite for |x| up to 1e4.
    const a = tf.exp(tf.neg(tf.abs(xl)));
    const pos = tf.div(tf.mul(xl, a), tf.sub(1, a));
    const neg = tf.div(xl, tf.sub(a, 1));
    const closed = tf.where(tf.cast(tf.step(xl), 'bool'), pos, neg);
    return tf.where(small, series, closed);
  });
}

/**
 * MaPO loss: SFT on the chosen sample plus a reference-free margin term.
 *
 * Symbols: e_w, e_l = `policyChosen`, `policyRejected`; s = `snr`; T = `numTrainTimesteps`;
 * β = `beta`; f(e) = s·e / (exp(s·e) − 1).
 * 1. log_odds = f(e_w) − f(e_l)                                       [B]
 * 2. ratio = log σ(T·log_odds)                                        [B]
 * 3. loss = mean(e_w) − β·mean(ratio)
 *
 * As mapo-t2i/mapo `utils.py::compute_loss` (commit 4f2905fc), with f evaluated stably (the
 * official form is 0/0 at e = 0). Metrics: `rewards/chosen` = mean f(e_w) (official "Win Score"),
 * `rewards/rejected` = mean f(e_l) ("Lose Score"), `rewards/margins` = mean log_odds,
 * `rewards/accuracies` = mean(log_odds > 0) + ½·ties, `loss/or` = −β·mean(ratio) ("OR loss"),
 * `loss/policy`, `loss/policyChosen`, `loss/policyRejected`, `nonFinite`.
 *
 * @param errors - `{ policyChosen, policyRejected }`, each `[B]`.
 * @param options - `{ beta = 0.1, snr = 0.5, numTrainTimesteps = 1000 }`.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} naming the argument whose shape is not `[B]`.
 * @throws {ConfigError} for a non-positive option.
 * @see https://arxiv.org/abs/2406.06424 (MaPO)
 * @example
 * const { loss } = mapoLoss({ policyChosen, policyRejected }, {});
 */
export function mapoLoss(errors: PolicyPairErrors, options: MapoOptions = {}): LossOutput {
  const fn = 'mapoLoss';
  const beta = options.beta ?? 0.1;
  const snr = options.snr ?? 0.5;
  const T = options.numTrainTimesteps ?? 1000;
  for (const [k, v] of [['beta', beta], ['snr', snr], ['numTrainTimesteps', T]] as const) {
    if (!(Number.isFinite(v) && v > 0)) throw new ConfigError(`Option '${k}' to ${fn} is ${String(v)}, expected a finite number > 0.`);
  }
  if (!errors || typeof errors !== 'object') throw new ConfigError(`The first argument to ${fn} must be an object of error tensors.`);
  const dims: Record<string, number> = {};
  for (const k of ['policyChosen', 'policyRejected'] as const) {
    if (!(errors[k] instanceof tf.Tensor)) throw new ConfigError(`Argument '${k}' to ${fn} is missing (expected a tensor of shape [B]).`);
    assertShape(errors[k], ['B'], k, fn, dims);
  }
  return tf.tidy(() => {
    const fW = bernoulliRatio(tf.mul(snr, errors.policyChosen)); // [B]
    const fL = bernoulliRatio(tf.mul(snr, errors.policyRejected)); // [B]
    const logOdds = tf.sub(fW, fL) as tf.Tensor1D; // [B]
    const negRatio = negLogSigmoid(tf.mul(T, logOdds)); // −log σ(T·log_odds), [B]
    const orLoss = tf.mul(beta, tf.mean(negRatio)) as tf.Scalar;
    const sft = tf.mean(errors.policyChosen) as tf.Scalar;
    const loss = tf.add(sft, orLoss) as tf.Scalar;
    const pr = tf.mean(errors.policyRejected) as tf.Scalar;
    const metrics: Record<string, tf.Scalar> = {
      'rewards/chosen': tf.mean(fW),
      'rewards/rejected': tf.mean(fL),
      'rewards/margins': tf.mean(logOdds),
      'rewards/accuracies': implicitAccuracy(logOdds),
      'loss/or': orLoss,
      'loss/policy': tf.mul(0.5, tf.add(sft, pr)),
      'loss/policyChosen': sft,
      'loss/policyRejected': pr,
      nonFinite: countNonFinite(errors.policyChosen, errors.policyRejected),
    };
    return { loss, metrics };
  });
}
