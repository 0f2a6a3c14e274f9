/**
 * TRL's DPO loss family on sequence log-probabilities (vision-language and language models).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { assertShape } from '../core/shape.js';
import { implicitAccuracy } from './preference.js';
import { countNonFinite, negLogSigmoid, softplus } from './stable.js';
import type { LossOutput } from './types.js';

/** The TRL `loss_type`s {@link dpoLoss} implements. */
export const DPO_LOSS_TYPES = [
  'sigmoid',
  'hinge',
  'ipo',
  'robust',
  'bco_pair',
  'sppo_hard',
  'nca_pair',
  'apo_zero',
  'apo_down',
  'exo_pair',
  'discopop',
] as const;
/** A TRL DPO `loss_type`. */
export type DpoLossType = (typeof DPO_LOSS_TYPES)[number];

/** Summed completion log-probabilities log π(y|x) of a pair batch (each `[B]`). */
export type SequenceLogps = {
  /** log π_θ(y_c|x) `[B]`: sum of the chosen completion's token log-probs. */
  policyChosenLogps: tf.Tensor1D;
  /** log π_θ(y_r|x) `[B]`. */
  policyRejectedLogps: tf.Tensor1D;
  /** log π_ref(y_c|x) `[B]`. */
  refChosenLogps: tf.Tensor1D;
  /** log π_ref(y_r|x) `[B]`. */
  refRejectedLogps: tf.Tensor1D;
};

/** Options of {@link dpoLoss}; names follow TRL's `DPOConfig`. */
export interface DpoOptions {
  /** β (TRL default 0.1). For `ipo` it is τ. */
  beta?: number;
  /** One loss type or several summed with `lossWeights` (TRL's MPO form); default `'sigmoid'`. */
  lossType?: DpoLossType | readonly DpoLossType[];
  /** Weights of several loss types (default all 1). */
  lossWeights?: readonly number[];
  /** ε: cDPO smoothing for `sigmoid` (TRL ≤ 0.28), flip rate for `robust`, target for `exo_pair` (needs ε ∈ (0, 1)). Default 0. */
  labelSmoothing?: number;
  /** τ of `discopop` (TRL `discopop_tau`, default 0.05). */
  discopopTau?: number;
  /** δ of `bco_pair` (TRL ≤ 0.28: a running mean of the rewards kept by the trainer; TRL HEAD: 0). Default 0. */
  bcoDelta?: number;
  /** Completion lengths `[B]` of the chosen sequences: `ipo` divides the log-ratios by them (clamped ≥ 1), as TRL HEAD. */
  chosenLengths?: tf.Tensor1D;
  /** Completion lengths `[B]` of the rejected sequences (with `chosenLengths`). */
  rejectedLengths?: tf.Tensor1D;
}

/**
 * DPO-family loss on sequence log-probabilities, with TRL's loss types and formulas.
 *
 * Symbols: r_c = log π_θ(y_c) − log π_ref(y_c), r_r likewise (reverse-KL log-ratios);
 * Δ = r_c − r_r; β = `beta`; ε = `labelSmoothing`; τ = `discopopTau`; x = βΔ.
 *
 * | lossType | per-pair loss |
 * |---|---|
 * | `sigmoid` | −(1−ε) log σ(x) − ε log σ(−x) (ε = 0: DPO) |
 * | `hinge` | max(0, 1 − x) |
 * | `ipo` | (Δ' − 1/(2β))², Δ' from length-averaged log-ratios when lengths are given |
 * | `robust` | [−(1−ε) log σ(x) + ε log σ(−x)] / (1 − 2ε) |
 * | `bco_pair` | −log σ(βr_c − δ) − log σ(−(βr_r − δ)) |
 * | `sppo_hard` | (r_c − 1/(2β))² + (r_r + 1/(2β))² |
 * | `nca_pair` | −log σ(βr_c) − ½ log σ(−βr_c) − ½ log σ(−βr_r) |
 * | `apo_zero` | (1 − σ(βr_c)) + σ(βr_r) |
 * | `apo_down` | σ(βr_c) + (1 − σ(x)) |
 * | `exo_pair` | σ(x)(log σ(x) − log(1−ε)) + σ(−x)(log σ(−x) − log ε) |
 * | `discopop` | −log σ(x)·(1 − σ(x/τ)) + e^{−x}·σ(x/τ) |
 *
 * Read from huggingface/trl `trl/trainer/dpo_trainer.py`, `DPOTrainer._compute_loss` at commit
 * f2cd57710ae345ea6428ae95363267fcf38a3dc8 (and `DPOTrainer.dpo_loss` at v0.28.0,
 * 49ef33428c47235991acb4e185ea599b70c6dab4, for `sigmoid` label smoothing and `bco_pair`'s δ).
 * The loss is the batch mean (of the weighted sum over loss types). Every form is evaluated
 * with softplus, so it stays finite for |x| up to 1e4 (`discopop`'s e^{−x}σ(x/τ) as
 * exp(−x − softplus(−x/τ))).
 *
 * Metrics: `rewards/chosen` = mean β·r_c, `rewards/rejected` = mean β·r_r, `rewards/margins`,
 * `rewards/accuracies` (ties count ½; TRL counts them 0), `logps/chosen`, `logps/rejected`,
 * `nonFinite`.
 *
 * @param logps - `{ policyChosenLogps, policyRejectedLogps, refChosenLogps, refRejectedLogps }`, each `[B]`.
 * @param options - see {@link DpoOptions}.
 * @returns `{ loss, metrics }`.
 * @throws {ShapeError} naming the argument whose shape is not `[B]`.
 * @throws {ConfigError} for an unknown loss type, β ≤ 0, or ε out of range for the loss type.
 * @see https://arxiv.org/abs/2305.18290 (DPO, Eq. 7) and the papers cited in TRL's docstring
 * @example
 * const { loss, metrics } = dpoLoss(logps, { beta: 0.1, lossType: 'sigmoid' });
 */
export function dpoLoss(logps: SequenceLogps, options: DpoOptions = {}): LossOutput {
  const fn = 'dpoLoss';
  const beta = options.beta ?? 0.1;
  const eps = options.labelSmoothing ?? 0;
  const tau = options.discopopTau ?? 0.05;
  const delta = options.bcoDelta ?? 0;
  const types: readonly DpoLossType[] = Array.isArray(options.lossType) ? options.lossType : [(options.lossType as DpoLossType | undefined) ?? 'sigmoid'];
  const weights = options.lossWeights ?? types.map(() => 1);
  if (!(Number.isFinite(beta) && beta > 0)) throw new ConfigError(`Option 'beta' to ${fn} is ${String(beta)}, expected a finite number > 0.`);
  if (types.length === 0) throw new ConfigError(`Option 'lossType' to ${fn} is empty. Expected one or more of: ${DPO_LOSS_TYPES.join(', ')}.`);
  if (weights.length !== types.length) {
    throw new ConfigError(`Option 'lossWeights' to ${fn} has ${weights.length} entries, expected ${types.length} (one per loss type).`);
  }
  for (const t of types) {
    if (!(DPO_LOSS_TYPES as readonly string[]).includes(t)) {
      throw new ConfigError(`Unknown loss type "${String(t)}". Expected one of: ${DPO_LOSS_TYPES.join(', ')}.`);
    }
  }
  if (!(eps >= 0 && eps <= 1)) throw new ConfigError(`Option 'labelSmoothing' to ${fn} is ${eps}, expected a number in [0, 1].`);
  if (types.includes('robust') && !(eps < 0.5)) throw new ConfigError(`Loss type "robust" needs labelSmoothing in [0, 0.5), got ${eps}.`);
  if (types.includes('exo_pair') && !(eps > 0 && eps < 1)) {
    throw new ConfigError(`Loss type "exo_pair" needs labelSmoothing in (0, 1), got ${eps} (TRL suggests 1e-3).`);
  }
  if (types.includes('discopop') && !(Number.isFinite(tau) && tau > 0)) throw new ConfigError(`Option 'discopopTau' to ${fn} is ${tau}, expected a number > 0.`);
  if (!logps || typeof logps !== 'object') throw new ConfigError(`The first argument to ${fn} must be an object of log-probability tensors.`);
  const dims: Record<string, number> = {};
  for (const k of ['policyChosenLogps', 'policyRejectedLogps', 'refChosenLogps', 'refRejectedLogps'] as const) {
    if (!(logps[k] instanceof tf.Tensor)) throw new ConfigError(`Argument '${k}' to ${fn} is missing (expected a tensor of shape [B]).`);
    assertShape(logps[k], ['B'], k, fn, dims);
  }
  if (options.chosenLengths || options.rejectedLengths) {
    if (!options.chosenLengths || !options.rejectedLengths) throw new ConfigError(`Options 'chosenLengths' and 'rejectedLengths' to ${fn} go together.`);
    assertShape(options.chosenLengths, ['B'], 'chosenLengths', fn, dims);
    assertShape(options.rejectedLengths, ['B'], 'rejectedLengths', fn, dims);
  }

  return tf.tidy(() => {
    const rc = tf.sub(logps.policyChosenLogps, logps.refChosenLogps) as tf.Tensor1D; // r_c [B]
    const rr = tf.sub(logps.policyRejectedLogps, logps.refRejectedLogps) as tf.Tensor1D; // r_r [B]
    const d = tf.sub(rc, rr); // Δ [B]
    const x = tf.mul(beta, d); // βΔ [B]
    const perType = (t: DpoLossType): tf.Tensor => {
      switch (t) {
        case 'sigmoid':
          return eps === 0 ? negLogSigmoid(x) : tf.add(tf.mul(1 - eps, softplus(tf.neg(x))), tf.mul(eps, softplus(x)));
        case 'hinge':
          return tf.relu(tf.sub(1, x));
        case 'ipo': {
          let di: tf.Tensor = d;
          if (options.chosenLengths && options.rejectedLengths) {
            const lc = tf.maximum(tf.cast(options.chosenLengths, 'float32'), 1);
            const lr = tf.maximum(tf.cast(options.rejectedLengths, 'float32'), 1);
            di = tf.sub(tf.div(rc, lc), tf.div(rr, lr));
          }
          return tf.square(tf.sub(di, 1 / (2 * beta)));
        }
        case 'robust':
          return tf.div(tf.sub(tf.mul(1 - eps, softplus(tf.neg(x))), tf.mul(eps, softplus(x))), 1 - 2 * eps);
        case 'bco_pair':
          return tf.add(softplus(tf.neg(tf.sub(tf.mul(beta, rc), delta))), softplus(tf.sub(tf.mul(beta, rr), delta)));
        case 'sppo_hard':
          return tf.add(tf.square(tf.sub(rc, 0.5 / beta)), tf.square(tf.add(rr, 0.5 / beta)));
        case 'nca_pair': {
          const bc = tf.mul(beta, rc);
          const br = tf.mul(beta, rr);
          return tf.add(softplus(tf.neg(bc)), tf.add(tf.mul(0.5, softplus(bc)), tf.mul(0.5, softplus(br))));
        }
        case 'apo_zero':
          return tf.add(tf.sigmoid(tf.neg(tf.mul(beta, rc))), tf.sigmoid(tf.mul(beta, rr)));
        case 'apo_down':
          return tf.add(tf.sigmoid(tf.mul(beta, rc)), tf.sigmoid(tf.neg(x)));
        case 'exo_pair': {
          const logQw = tf.neg(softplus(tf.neg(x))); // log σ(x)
          const logQl = tf.neg(softplus(x)); // log σ(−x)
          return tf.add(
            tf.mul(tf.sigmoid(x), tf.sub(logQw, Math.log1p(-eps))),
            tf.mul(tf.sigmoid(tf.neg(x)), tf.sub(logQl, Math.log(eps))),
          );
        }
        case 'discopop': {
          const mod = tf.sigmoid(tf.div(x, tau)); // σ(x/τ)
          const logistic = softplus(tf.neg(x)); // −log σ(x)
          const expPart = tf.exp(tf.sub(tf.neg(x), softplus(tf.neg(tf.div(x, tau))))); // e^{−x}·σ(x/τ)
          return tf.add(tf.mul(logistic, tf.sub(1, mod)), expPart);
        }
        default: {
          const never: never = t;
          throw new ConfigError(`Unknown loss type "${String(never)}". Expected one of: ${DPO_LOSS_TYPES.join(', ')}.`);
        }
      }
    };
    let loss: tf.Scalar = tf.scalar(0);
    types.forEach((t, i) => {
      loss = tf.add(loss, tf.mul(tf.mean(perType(t)), weights[i]));
    });
    const chosenRewards = tf.mul(beta, rc) as tf.Tensor1D; // [B]
    const rejectedRewards = tf.mul(beta, rr) as tf.Tensor1D; // [B]
    const metrics: Record<string, tf.Scalar> = {
      'rewards/chosen': tf.mean(chosenRewards),
      'rewards/rejected': tf.mean(rejectedRewards),
      'rewards/margins': tf.mean(tf.sub(chosenRewards, rejectedRewards)),
      'rewards/accuracies': implicitAccuracy(tf.sub(chosenRewards, rejectedRewards) as tf.Tensor1D),
      'logps/chosen': tf.mean(logps.policyChosenLogps),
      'logps/rejected': tf.mean(logps.policyRejectedLogps),
      nonFinite: countNonFinite(logps.policyChosenLogps, logps.policyRejectedLogps, logps.refChosenLogps, logps.refRejectedLogps),
    };
    return { loss, metrics };
  });
}
