/**
 * Diffusion-KTO (Li et al., NeurIPS 2024): unpaired thumbs-up / thumbs-down.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { countNonFinite, safeMean, stopGradient } from './stable.js';
import type { LossOutput } from './types.js';

/** Per-sample denoising errors of desirable and undesirable samples (unpaired: the two sizes may differ). */
export type KtoErrors = {
  /** err_θ of the desirable (thumbs-up) samples `[Bd]`. */
  policyChosen: tf.Tensor1D;
  /** err_θ of the undesirable (thumbs-down) samples `[Bu]`. */
  policyRejected: tf.Tensor1D;
  /** err_ref of the desirable samples `[Bd]`. */
  refChosen: tf.Tensor1D;
  /** err_ref of the undesirable samples `[Bu]`. */
  refRejected: tf.Tensor1D;
}

/** Options of {@link ktoLoss}. */
export interface KtoOptions {
  /** β, **without** the ½ factor of Diffusion-DPO (official default 1000). */
  beta: number;
  /** λ_D, weight of desirable samples (official `--lambda_d_kto`, default 1). */
  desirableWeight?: number;
  /** λ_U, weight of undesirable samples (official `--lambda_u_kto`, default 1). */
  undesirableWeight?: number;
}

/**
 * Diffusion-KTO loss with the official defaults (`--halo sigmoid`, no `bce_offset`).
 *
 * Symbols: g = err_ref − err_θ (log-likelihood ratio with log p ≈ −err) per sample; y = +1 for
 * desirable, −1 for undesirable; β = `beta`; λ_D, λ_U = the class weights.
 * 1. kl = max(mean over all samples of g, 0), detached (no gradient)        []
 * 2. u = y·β·(g − kl)                                                      [Bd + Bu]
 * 3. loss = mean over all samples of λ_y·(1 − σ(u)),  1 − σ(u) = σ(−u)
 *
 * As jacklishufan/diffusion-kto `train_kto_sd_v1.5.py` (commit 01c2fc36). Metrics:
 * `rewards/chosen` = mean β·g over desirable samples, `rewards/rejected` over undesirable,
 * `rewards/margins` their difference, `rewards/accuracies` = mean(u > 0) + ½·mean(u = 0)
 * (official `acc` counts ties 0), `kl`, `loss/policy`, `loss/ref`, `nonFinite`.
 * In the uniform registry form the chosen samples are the desirable ones and the rejected the
 * undesirable ones.
 *
 * @param errors - `{ policyChosen [Bd], policyRejected [Bu], refChosen [Bd], refRejected [Bu] }`.
 * @param options - `{ beta, desirableWeight = 1, undesirableWeight = 1 }`.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} naming the argument whose shape does not match.
 * @throws {ConfigError} for β ≤ 0, negative weights, or no samples at all.
 * @see https://arxiv.org/abs/2404.04465 (Diffusion-KTO, Eq. 8), https://arxiv.org/abs/2402.01306 (KTO)
 * @example
 * const { loss } = ktoLoss({ policyChosen, policyRejected, refChosen, refRejected }, { beta: 1000 });
 */
export function ktoLoss(errors: KtoErrors, options: KtoOptions): LossOutput {
  const fn = 'ktoLoss';
  const beta = options?.beta;
  const lD = options?.desirableWeight ?? 1;
  const lU = options?.undesirableWeight ?? 1;
  if (!(Number.isFinite(beta) && beta > 0)) throw new ConfigError(`Option 'beta' to ${fn} is ${String(beta)}, expected a finite number > 0.`);
  if (!(lD >= 0 && lU >= 0 && Number.isFinite(lD) && Number.isFinite(lU))) {
    throw new ConfigError(`Options 'desirableWeight'/'undesirableWeight' to ${fn} are ${lD}/${lU}, expected finite numbers >= 0.`);
  }
  if (!errors || typeof errors !== 'object') throw new ConfigError(`The first argument to ${fn} must be an object of error tensors.`);
  for (const k of ['policyChosen', 'policyRejected', 'refChosen', 'refRejected'] as const) {
    if (!(errors[k] instanceof tf.Tensor)) throw new ConfigError(`Argument '${k}' to ${fn} is missing (expected a tensor of rank 1).`);
  }
  const dims: Record<string, number> = {};
  assertShape(errors.policyChosen, ['Bd'], 'policyChosen', fn, dims);
  assertShape(errors.refChosen, ['Bd'], 'refChosen', fn, dims);
  assertShape(errors.policyRejected, ['Bu'], 'policyRejected', fn, dims);
  assertShape(errors.refRejected, ['Bu'], 'refRejected', fn, dims);
  const nD = errors.policyChosen.shape[0];
  const nU = errors.policyRejected.shape[0];
  if (nD + nU === 0) throw new ConfigError(`${fn} got no samples (policyChosen and policyRejected are both empty).`);

  return tf.tidy(() => {
    const gD = tf.sub(errors.refChosen, errors.policyChosen) as tf.Tensor1D; // [Bd]
    const gU = tf.sub(errors.refRejected, errors.policyRejected) as tf.Tensor1D; // [Bu]
    const g = tf.concat([gD, gU]) as tf.Tensor1D; // [Bd + Bu]
    const kl = stopGradient(tf.relu(tf.mean(g))); // [] detached, clamped at 0
    const sign = tf.concat([tf.ones([nD]), tf.fill([nU], -1)]); // [Bd + Bu]
    const lambda = tf.concat([tf.fill([nD], lD), tf.fill([nU], lU)]); // [Bd + Bu]
    const u = tf.mul(tf.mul(sign, beta), tf.sub(g, kl)) as tf.Tensor1D; // [Bd + Bu]
    const loss = tf.mean(tf.mul(lambda, tf.sigmoid(tf.neg(u)))) as tf.Scalar;
    const rewardsChosen = safeMean(tf.mul(beta, gD));
    const rewardsRejected = safeMean(tf.mul(beta, gU));
    const acc = tf.mean(tf.add(tf.cast(tf.greater(u, 0), 'float32'), tf.mul(0.5, tf.cast(tf.equal(u, 0), 'float32'))));
    const policyAll = tf.concat([errors.policyChosen, errors.policyRejected]);
    const refAll = tf.concat([errors.refChosen, errors.refRejected]);
    const metrics: Record<string, tf.Scalar> = {
      'rewards/chosen': rewardsChosen,
      'rewards/rejected': rewardsRejected,
      'rewards/margins': tf.sub(rewardsChosen, rewardsRejected),
      'rewards/accuracies': acc as tf.Scalar,
      kl: kl as tf.Scalar,
      'loss/policy': tf.mean(policyAll),
      'loss/ref': tf.mean(refAll),
      nonFinite: countNonFinite(errors.policyChosen, errors.policyRejected, errors.refChosen, errors.refRejected),
    };
    return { loss, metrics };
  });
}
