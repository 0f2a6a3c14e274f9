/**
 * DCPO — Dual Caption Preference Optimization (Saeidi et al. 2025).
 * @module
 */
import type { LossOutput } from './types.js';
import { type DiffusionDpoOptions, type PairErrors, pairedDiffusionLoss } from './diffusion-dpo.js';

/**
 * DCPO loss: the Diffusion-DPO formula unchanged, on errors computed with each sample under its
 * **own** caption: err_θ(w) = err(ε_θ(x_t^w, t, c_w), y_w), err_θ(l) = err(ε_θ(x_t^l, t, c_l), y_l),
 * and the reference likewise (noise and timestep still shared by the pair).
 *
 *     z = −½·β·((err_θ(w) − err_θ(l)) − (err_ref(w) − err_ref(l))),  loss = mean −log σ(z)
 *
 * As sahsaeedi/DCPO-T2I `src/dcpo_trainer.py` (HEAD 62335bb), whose recipe uses β = 500.
 *
 * @param errors - `{ policyChosen, policyRejected, refChosen, refRejected }` `[B]`, chosen under
 *   its caption c_w and rejected under its caption c_l.
 * @param options - as {@link diffusionDpoLoss}.
 * @returns `{ loss, metrics }` (metrics as {@link diffusionDpoLoss}).
 * @throws {ShapeError} naming the argument whose shape is not `[B]`.
 * @throws {ConfigError} for bad options.
 * @see https://arxiv.org/abs/2502.06023 (DCPO)
 * @example
 * const { loss } = dcpoLoss(errorsUnderOwnCaptions, { beta: 500 });
 */
export function dcpoLoss(errors: PairErrors, options: DiffusionDpoOptions): LossOutput {
  return pairedDiffusionLoss(errors, options, 'dcpoLoss');
}
