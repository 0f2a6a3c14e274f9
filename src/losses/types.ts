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
 * - `rewards/accuracies`: fraction of pairs with z > 0, ties (z = 0) counting ½ (diffusers' `implicit_acc`;
 *   Salesforce and TRL count ties 0). NaN when no pair carries weight (DenseDPO with no decisive segment).
 * - `loss/policy`, `loss/ref`: mean policy / reference denoising error over chosen and rejected.
 * - `nonFinite`: number of non-finite (NaN or ±Inf) values among the error / log-prob inputs.
 *   Model outputs that blow up are reported here rather than thrown (the check stays on the
 *   backend, no synchronisation); when it is above 0 the loss is NaN or ±Inf too, so a trainer's
 *   non-finite guard skips the step and this count says where it came from. Labels and soft
 *   labels (data) are validated instead: a bad value throws a ConfigError.
 * - `kl` (KTO), `loss/or` (MaPO), `loss/sft` (with `sftWeight`), `count/decisive` (DenseDPO),
 *   `logps/chosen`, `logps/rejected` (dpoLoss): loss-specific extras.
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
