/**
 * Types shared by every prefkit loss.
 * @module
 */
import type * as tf from '@tensorflow/tfjs';

/**
 * Metric names every loss may emit (TRL's names where TRL has one).
 *
 * - `rewards/chosen`, `rewards/rejected`: mean β·r of the chosen / rejected samples, with r the
 *   implicit log-ratio of the loss (see each loss for its r).
 * - `rewards/margins`: mean of `rewards/chosen − rewards/rejected` per pair (= mean of the link argument z).
 * - `rewards/accuracies`: fraction of pairs with z > 0, ties (z = 0) counting ½ (diffusers' `implicit_acc`).
 * - `loss/policy`, `loss/ref`: mean policy / reference denoising error over chosen and rejected.
 * - `nonFinite`: number of non-finite (NaN or ±Inf) values among the tensor inputs; when it is
 *   above 0 the loss is NaN or ±Inf too and the step must be skipped.
 */
export type MetricName =
  | 'rewards/chosen'
  | 'rewards/rejected'
  | 'rewards/margins'
  | 'rewards/accuracies'
  | 'loss/policy'
  | 'loss/ref'
  | 'loss/policyChosen'
  | 'loss/policyRejected'
  | 'loss/refChosen'
  | 'loss/refRejected'
  | 'loss/sft'
  | 'loss/or'
  | 'logps/chosen'
  | 'logps/rejected'
  | 'kl'
  | 'count/decisive'
  | 'nonFinite';

/** What every loss returns: a scalar loss (differentiable) and scalar metrics (for logging). */
export type LossOutput = {
  /** The scalar to minimise. */
  loss: tf.Scalar;
  /** Scalar metrics keyed by {@link MetricName} (or a loss-specific name documented on the loss). */
  metrics: Record<string, tf.Scalar>;
}
