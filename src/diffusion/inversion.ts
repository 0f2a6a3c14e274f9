/**
 * Inversion: map clean samples to the noise latents a deterministic DDIM sampler turns back into
 * them. `ddimInvert` (plain DDIM inversion) and `renoiseInvert` (ReNoise fixed-point refinement).
 *
 * Symbols: z_s = sample at level s, ᾱ_s, ε̂ = predicted noise, t = the next (noisier) timestep.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import { DDIMScheduler, discreteX0Eps } from './ddim.js';
import type { NoiseSchedule } from './noising.js';
import { guidedPrediction } from './sampler.js';
import type { ScheduleConfigInput } from './schedules.js';

/** Options of {@link ddimInvert}. */
export interface InversionOptions {
  /** Conditioning `[B, ...]` per field. */
  cond?: Conditioning;
  /** Unconditional conditioning for guidance (default zeros like `cond`). */
  uncond?: Conditioning;
  /** Guidance scale during inversion (default 1). */
  guidanceScale?: number;
  /** Inversion steps (default 50); use the same number when sampling back. */
  steps?: number;
  /** The DDIM sampler whose steps to invert (its timesteps are reset). */
  scheduler?: DDIMScheduler;
  /** Or a schedule / config for it (default: diffusers' DDIM defaults). */
  schedule?: NoiseSchedule | ScheduleConfigInput;
  /** Called after every step with the index, the timestep reached and z_t (do not dispose it). */
  onStep?: (i: number, t: number, latent: tf.Tensor) => void;
}

/** Options of {@link renoiseInvert}. */
export interface RenoiseOptions extends InversionOptions {
  /** Fixed-point refinements per step, K (default 2). */
  iterations?: number;
  /** How many of the last K noise predictions are averaged for the final step (default: all K). */
  average?: number;
}

/** One inverse DDIM step from level `from` (ᾱ_from) to `t` (ᾱ_t) given ε̂. */
function inverseStep(zFrom: tf.Tensor, eps: tf.Tensor, alphaFrom: number, alphaT: number): tf.Tensor {
  return tf.tidy(() => {
    const x0 = tf.div(tf.sub(zFrom, tf.mul(eps, Math.sqrt(1 - alphaFrom))), Math.sqrt(alphaFrom)); // [B, ...]
    return tf.add(tf.mul(x0, Math.sqrt(alphaT)), tf.mul(eps, Math.sqrt(1 - alphaT)));
  });
}

function setup(opts: InversionOptions): { sch: DDIMScheduler; ascending: number[] } {
  const sch = opts.scheduler ?? new DDIMScheduler(opts.schedule ?? {});
  const ascending = [...sch.setTimesteps(opts.steps ?? 50)].reverse();
  return { sch, ascending };
}

/**
 * Plain DDIM inversion, as diffusers' `DDIMInverseScheduler` (clipping aside): for each timestep t
 * in ascending order, from level t' = t − T//n: ε̂ from the model at (z_{t'}, t),
 * x̂0 = (z_{t'} − √(1−ᾱ_{t'})·ε̂)/√ᾱ_{t'}, z_t = √ᾱ_t·x̂0 + √(1−ᾱ_t)·ε̂. ᾱ below 0 is the
 * scheduler's final ᾱ (1 with `set_alpha_to_one`).
 * @param denoiser - the model.
 * @param x0 - clean samples `[B, ...]`.
 * @param opts - see {@link InversionOptions}.
 * @returns the noise latents z_T `[B, ...]` (the caller owns them).
 * @see Song et al. 2021 (DDIM) Eq. 13; Mokady et al. 2023 (null-text inversion) Section 3
 * @example
 * const zT = ddimInvert(model, x0, { cond, steps: 50, schedule });
 * const back = sample(model, { shape: x0.shape, latents: zT, cond, steps: 50, schedule });
 */
export function ddimInvert(denoiser: Denoiser, x0: tf.Tensor, opts: InversionOptions = {}): tf.Tensor {
  return renoiseInvert(denoiser, x0, { ...opts, iterations: 0 });
}

/**
 * ReNoise inversion (Garibi et al. 2024): each DDIM inversion step is refined by fixed-point
 * iterations. From z_{t'}: z_t⁽⁰⁾ by a plain inverse step; then K times ε̂_k from the model at
 * (z_t⁽ᵏ⁻¹⁾, t) and z_t⁽ᵏ⁾ = inverse step from z_{t'} with ε̂_k; the final z_t uses the mean of the
 * last `average` predictions ε̂. A converged fixed point is reproduced exactly by DDIM sampling
 * (η = 0). SmPO uses 5 steps with two averaged predictions.
 * @param denoiser - the model.
 * @param x0 - clean samples `[B, ...]`.
 * @param opts - see {@link RenoiseOptions}.
 * @returns the noise latents z_T `[B, ...]` (the caller owns them).
 * @throws {ConfigError} for negative `iterations` or `average` out of [1, K].
 * @see https://arxiv.org/abs/2403.14602 (ReNoise, Algorithm 1)
 */
export function renoiseInvert(denoiser: Denoiser, x0: tf.Tensor, opts: RenoiseOptions = {}): tf.Tensor {
  const K = opts.iterations ?? 2;
  const avg = opts.average ?? K;
  if (!Number.isInteger(K) || K < 0) throw new ConfigError(`renoiseInvert: iterations must be an integer >= 0, got ${K}.`);
  if (K > 0 && (!Number.isInteger(avg) || avg < 1 || avg > K)) throw new ConfigError(`renoiseInvert: average must be an integer in [1, ${K}] (iterations), got ${avg}.`);
  const { sch, ascending } = setup(opts);
  const schedule = sch.schedule;
  const w = opts.guidanceScale ?? 1;
  const epsAt = (z: tf.Tensor, t: number, alpha: number) =>
    tf.tidy(() => {
      const out = guidedPrediction(denoiser, z, t, opts.cond, opts.uncond, w);
      return discreteX0Eps(schedule, out, z, alpha).eps.clone();
    });
  let z = x0.clone();
  ascending.forEach((t, i) => {
    const from = sch.previousTimestep(t);
    const aFrom = sch.alphaProd(from);
    const aT = sch.alphaProd(t);
    let eps = epsAt(z, t, aFrom); // diffusers: model output at z_{t'} read with ᾱ_{t'}
    let zt = inverseStep(z, eps, aFrom, aT);
    const kept: tf.Tensor[] = [];
    for (let k = 1; k <= K; k++) {
      const e = epsAt(zt, t, aT);
      if (k > K - avg) kept.push(e);
      const nz = inverseStep(z, e, aFrom, aT);
      zt.dispose();
      zt = nz;
      if (k <= K - avg) e.dispose();
    }
    if (kept.length) {
      eps.dispose();
      eps = tf.tidy(() => tf.div(tf.addN(kept), kept.length));
      tf.dispose(kept);
      zt.dispose();
      zt = inverseStep(z, eps, aFrom, aT);
    }
    eps.dispose();
    z.dispose();
    z = zt;
    opts.onStep?.(i, t, z);
  });
  return z;
}
