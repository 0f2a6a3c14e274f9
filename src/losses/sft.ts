/**
 * SFT baseline: the ordinary diffusion loss on the chosen samples only.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { countNonFinite } from './stable.js';
import type { LossOutput } from './types.js';

/**
 * SFT loss: mean denoising error of the chosen samples, no reference model.
 *
 * As the Salesforce Diffusion-DPO `--sft` baseline (`F.mse_loss(model_pred, target,
 * reduction="mean")`, which equals the mean of the per-sample errors when all samples have the
 * same size). Metrics: `loss/policy`, `loss/policyChosen`, `nonFinite`.
 *
 * @param errors - `{ policyChosen [B] }` (other fields are ignored).
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} when `policyChosen` is not `[B]`.
 * @see https://github.com/SalesforceAIResearch/DiffusionDPO (`train.py --sft`)
 * @example
 * const { loss } = sftLoss({ policyChosen: denoisingError(pred, noise) });
 */
export function sftLoss(errors: { policyChosen: tf.Tensor1D }): LossOutput {
  if (!(errors?.policyChosen instanceof tf.Tensor)) throw new ConfigError(`Argument 'policyChosen' to sftLoss is missing (expected a tensor of shape [B]).`);
  assertShape(errors.policyChosen, [null], 'policyChosen', 'sftLoss');
  return tf.tidy(() => {
    const loss = tf.mean(errors.policyChosen) as tf.Scalar;
    return { loss, metrics: { 'loss/policy': tf.clone(loss), 'loss/policyChosen': tf.clone(loss), nonFinite: countNonFinite(errors.policyChosen) } };
  });
}
