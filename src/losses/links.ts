/**
 * Links: per-pair maps from the margin to a loss. All are written with softplus, so they are
 * finite for |z| up to 1e4 and beyond (−log σ(z) = softplus(−z)).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { negLogSigmoid, softplus } from './stable.js';

/** The links {@link preferenceLoss} accepts. */
export const LINKS = ['sigmoid', 'smoothed', 'robust', 'hinge', 'ipo'] as const;
/** A link name: `sigmoid` (DPO), `smoothed` (cDPO / soft label), `robust` (rDPO), `hinge` (SLiC), `ipo` (IPO). */
export type Link = (typeof LINKS)[number];

/** Inputs of {@link linkLoss}. */
export interface LinkInputs {
  /** z = β·m per pair `[N]` (the argument of σ). */
  z: tf.Tensor1D;
  /** β (> 0), used by `ipo` (τ = β, on m = z / β). */
  beta: number;
  /** ε for `smoothed` (p = 1 − ε when no `preference`) and `robust`; default 0. */
  labelSmoothing?: number;
  /** Soft label p ∈ [0, 1] per pair `[N]` for `smoothed` (1 = chosen preferred). */
  preference?: tf.Tensor1D;
}

/**
 * Per-pair loss of a link, with z = β·m:
 *
 * | link | loss |
 * |---|---|
 * | `sigmoid` | −log σ(z) |
 * | `smoothed` | −p log σ(z) − (1 − p) log σ(−z), p = `preference` or 1 − ε (cDPO) |
 * | `robust` | [−(1 − ε) log σ(z) + ε log σ(−z)] / (1 − 2ε) (rDPO, 0 ≤ ε < ½) |
 * | `hinge` | max(0, 1 − z) (SLiC) |
 * | `ipo` | (m − 1/(2β))², m = z / β (IPO, τ = β) |
 *
 * @param link - the link name.
 * @param inputs - `{ z [N], beta, labelSmoothing?, preference? [N] }`.
 * @returns the per-pair losses `[N]`.
 * @throws {ConfigError} for an unknown link or ε outside its range.
 * @see https://arxiv.org/abs/2305.18290 (DPO, Eq. 7), https://arxiv.org/abs/2310.12036 (IPO, Eq. 17),
 *   https://arxiv.org/abs/2403.00409 (rDPO, Eq. 9), https://arxiv.org/abs/2305.10425 (SLiC)
 * @example
 * linkLoss('ipo', { z: tf.tensor1d([0.5]), beta: 1 }); // [0]: IPO at m = 1/(2β)
 */
export function linkLoss(link: Link, inputs: LinkInputs): tf.Tensor1D {
  const { z, beta } = inputs;
  const eps = inputs.labelSmoothing ?? 0;
  switch (link) {
    case 'sigmoid':
      return negLogSigmoid(z);
    case 'smoothed': {
      if (!(eps >= 0 && eps <= 1)) throw new ConfigError(`labelSmoothing for link "smoothed" is ${eps}, expected a number in [0, 1].`);
      return tf.tidy(() => {
        const p: tf.Tensor = inputs.preference ?? tf.scalar(1 - eps);
        // −p log σ(z) − (1 − p) log σ(−z) = p·softplus(−z) + (1 − p)·softplus(z)
        return tf.add(tf.mul(p, softplus(tf.neg(z))), tf.mul(tf.sub(1, p), softplus(z))) as tf.Tensor1D;
      });
    }
    case 'robust': {
      if (!(eps >= 0 && eps < 0.5)) throw new ConfigError(`labelSmoothing for link "robust" is ${eps}, expected a number in [0, 0.5).`);
      return tf.tidy(() => tf.div(tf.sub(tf.mul(1 - eps, softplus(tf.neg(z))), tf.mul(eps, softplus(z))), 1 - 2 * eps) as tf.Tensor1D);
    }
    case 'hinge':
      return tf.tidy(() => tf.relu(tf.sub(1, z)) as tf.Tensor1D);
    case 'ipo':
      return tf.tidy(() => tf.square(tf.sub(tf.div(z, beta), 1 / (2 * beta))) as tf.Tensor1D);
    default: {
      const never: never = link;
      throw new ConfigError(`Unknown link "${String(never)}". Expected one of: ${LINKS.join(', ')}.`);
    }
  }
}
