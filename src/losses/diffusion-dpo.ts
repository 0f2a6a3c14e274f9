/**
 * Diffusion-DPO (Wallace et al. 2023) on per-sample denoising errors.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import type { Link } from './links.js';
import { assertBeta, preferenceLoss } from './preference.js';
import { countNonFinite } from './stable.js';
import type { LossOutput } from './types.js';

/** Per-sample denoising errors of a preference pair batch (each `[B]`, from {@link denoisingError}). */
export type PairErrors = {
  /** err_θ of the chosen samples `[B]` (inside the gradient tape). */
  policyChosen: tf.Tensor1D;
  /** err_θ of the rejected samples `[B]`. */
  policyRejected: tf.Tensor1D;
  /** err_ref of the chosen samples `[B]` (reference model, no gradient). */
  refChosen: tf.Tensor1D;
  /** err_ref of the rejected samples `[B]`. */
  refRejected: tf.Tensor1D;
}

/** Options of {@link diffusionDpoLoss}. */
export interface DiffusionDpoOptions {
  /** β in the −½β convention of the official code (default recipe 5000; SD1.5 script's β × 2). */
  beta: number;
  /** Link, default `'sigmoid'` (Diffusion-DPO); `smoothed`, `robust`, `hinge`, `ipo` are the DPO variants. */
  link?: Link;
  /** ε for `smoothed` (cDPO) and `robust` (rDPO). Default 0. */
  labelSmoothing?: number;
  /** Soft label p ∈ [0, 1] per pair `[B]` for the `smoothed` link. */
  preference?: tf.Tensor1D;
  /** λ of an SFT term λ·mean(err_θ(chosen)). Default 0. */
  sftWeight?: number;
  /** Per-pair weights `[B]` (see {@link PreferenceOptions.weights}). */
  weights?: tf.Tensor1D;
}

/** Validates four `[B]` error tensors; returns B. @internal */
export function assertPairErrors(e: PairErrors, fn: string, rank: 1 | 2 = 1): void {
  if (!e || typeof e !== 'object') throw new ConfigError(`The first argument to ${fn} must be an object of error tensors.`);
  const dims: Record<string, number> = {};
  const spec = rank === 1 ? ['B'] : ['B', 'F'];
  for (const k of ['policyChosen', 'policyRejected', 'refChosen', 'refRejected'] as const) {
    if (!(e[k] instanceof tf.Tensor)) throw new ConfigError(`Argument '${k}' to ${fn} is missing (expected a tensor of shape [${spec.join(', ')}]).`);
    assertShape(e[k], spec, k, fn, dims);
  }
}

/**
 * Diffusion-DPO implicit log-ratios r = −½(err_θ − err_ref) and the reporting metrics
 * `loss/policy`, `loss/ref` (diffusers' `raw_model_loss`, `ref_loss`), per-side errors and
 * `nonFinite`. @internal
 */
export function diffusionScores(e: PairErrors): {
  chosen: tf.Tensor1D;
  rejected: tf.Tensor1D;
  metrics: Record<string, tf.Scalar>;
} {
  return tf.tidy(() => {
    const chosen = tf.mul(-0.5, tf.sub(e.policyChosen, e.refChosen)) as tf.Tensor1D; // [B]
    const rejected = tf.mul(-0.5, tf.sub(e.policyRejected, e.refRejected)) as tf.Tensor1D; // [B]
    const pc = tf.mean(e.policyChosen) as tf.Scalar;
    const pr = tf.mean(e.policyRejected) as tf.Scalar;
    const rc = tf.mean(e.refChosen) as tf.Scalar;
    const rr = tf.mean(e.refRejected) as tf.Scalar;
    const metrics: Record<string, tf.Scalar> = {
      'loss/policy': tf.mul(0.5, tf.add(pc, pr)),
      'loss/ref': tf.mul(0.5, tf.add(rc, rr)),
      'loss/policyChosen': pc,
      'loss/policyRejected': pr,
      'loss/refChosen': rc,
      'loss/refRejected': rr,
      nonFinite: countNonFinite(e.policyChosen, e.policyRejected, e.refChosen, e.refRejected),
    };
    return { chosen, rejected, metrics };
  });
}

/**
 * Diffusion-DPO loss on per-sample denoising errors.
 *
 * Symbols: err_θ(w), err_θ(l) = `policyChosen`, `policyRejected`; err_ref(·) = `refChosen`,
 * `refRejected`; β = `beta`.
 * 1. z = −½·β·((err_θ(w) − err_θ(l)) − (err_ref(w) − err_ref(l)))   [B]  (official `inside_term`)
 * 2. loss = mean_b link(z); for `sigmoid` −log σ(z) computed as softplus(−z)
 *
 * Matches SalesforceAIResearch/DiffusionDPO `train.py` (commit 8d3ee5c6) and diffusers
 * `train_diffusion_dpo_sdxl.py`. Metrics: `rewards/*` with r = −½(err_θ − err_ref),
 * `rewards/accuracies` counting ties ½ (diffusers; Salesforce counts them 0), `loss/policy`,
 * `loss/ref`, per-side errors and `nonFinite` (count of NaN/Inf inputs; the loss is then
 * not finite and the step must be skipped). Gradients flow into all four inputs; keep the
 * reference errors outside the gradient tape.
 *
 * @param errors - `{ policyChosen, policyRejected, refChosen, refRejected }`, each `[B]`.
 * @param options - `{ beta, link?, labelSmoothing?, preference?, sftWeight?, weights? }`.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} naming the argument whose shape is not `[B]`.
 * @throws {ConfigError} for β ≤ 0, an unknown link or ε out of range.
 * @see https://arxiv.org/abs/2311.12908 (Diffusion-DPO, Eq. 14)
 * @example
 * const { loss, metrics } = diffusionDpoLoss({ policyChosen, policyRejected, refChosen, refRejected }, { beta: 5000 });
 */
export function diffusionDpoLoss(errors: PairErrors, options: DiffusionDpoOptions): LossOutput {
  return pairedDiffusionLoss(errors, options, 'diffusionDpoLoss');
}

/** Shared body of diffusionDpoLoss / dcpoLoss. @internal */
export function pairedDiffusionLoss(errors: PairErrors, options: DiffusionDpoOptions, fn: string): LossOutput {
  if (!options || typeof options !== 'object') throw new ConfigError(`The options of ${fn} are missing (expected at least { beta }).`);
  assertBeta(options.beta, fn);
  assertPairErrors(errors, fn);
  return tf.tidy(() => {
    const s = diffusionScores(errors);
    const out = preferenceLoss(
      { chosen: s.chosen, rejected: s.rejected },
      {
        beta: options.beta,
        link: options.link,
        labelSmoothing: options.labelSmoothing,
        preference: options.preference,
        weights: options.weights,
        sft: options.sftWeight ? errors.policyChosen : undefined,
        sftWeight: options.sftWeight,
      },
    );
    return { loss: out.loss, metrics: { ...out.metrics, ...s.metrics } };
  });
}

/**
 * Convert the β of diffusers' SD1.5 script (`train_diffusion_dpo.py`, which writes
 * `β_sd15·(ref_diff − model_diff)`) to prefkit's −½β convention: β = 2·β_sd15.
 * The script's default 2500 becomes 5000, the official default.
 *
 * @param beta - β as passed to `train_diffusion_dpo.py --beta_dpo`.
 * @returns β for {@link diffusionDpoLoss}.
 * @throws {ConfigError} when `beta` is not a finite number > 0.
 * @see https://github.com/huggingface/diffusers/pull/6788 (the re-parameterisation)
 * @example
 * betaFromDiffusersSd15(2500); // 5000
 */
export function betaFromDiffusersSd15(beta: number): number {
  if (!(typeof beta === 'number' && Number.isFinite(beta) && beta > 0)) {
    throw new ConfigError(`betaFromDiffusersSd15 got beta ${String(beta)}, expected a finite number > 0.`);
  }
  return 2 * beta;
}
