/**
 * `sample`: the reverse process with batched classifier-free guidance.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError } from '../errors.js';
import { createRng, randomNormal, type Rng } from '../core/random.js';
import type { Conditioning, Denoiser } from './denoiser.js';
import { DDIMScheduler } from './ddim.js';
import { FlowMatchEulerScheduler } from './flow-match.js';
import { createSchedule, type NoiseSchedule } from './noising.js';
import type { ScheduleConfigInput } from './schedules.js';
import type { Scheduler } from './scheduler.js';

/** Conditioning fields, in a fixed order. */
const FIELDS = ['tokens', 'tokenMask', 'pooled'] as const;

/**
 * The unconditional counterpart of `cond`: zeros for `tokens` and `pooled`, the same `tokenMask`.
 * @internal
 */
export function nullConditioning(cond: Conditioning): Conditioning {
  return {
    tokens: cond.tokens && tf.zerosLike(cond.tokens),
    tokenMask: cond.tokenMask && cond.tokenMask.clone(),
    pooled: cond.pooled && tf.zerosLike(cond.pooled),
  };
}

/**
 * One model evaluation with classifier-free guidance, batched: the model sees
 * `[x; x]` with `[uncond; cond]` and returns u + w·(c − u) (Ho & Salimans 2022).
 * With w = 1 or no conditioning, a single plain evaluation.
 * @param denoiser - the model.
 * @param x - inputs `[B, ...]`.
 * @param t - one timestep for the batch.
 * @param cond - conditioning `[B, ...]` per field.
 * @param uncond - unconditional conditioning (default {@link nullConditioning} of `cond`).
 * @param guidanceScale - w.
 * @returns the guided model output `[B, ...]`.
 * @see https://arxiv.org/abs/2207.12598 Eq. 6
 */
export function guidedPrediction(denoiser: Denoiser, x: tf.Tensor, t: number, cond: Conditioning | undefined, uncond: Conditioning | undefined, guidanceScale: number): tf.Tensor {
  return tf.tidy(() => {
    const B = x.shape[0];
    if (guidanceScale === 1 || !cond) return denoiser.predict(x, tf.fill([B], t), cond);
    const u = uncond ?? nullConditioning(cond);
    const both: Conditioning = {};
    for (const k of FIELDS) {
      const a = u[k];
      const c = cond[k];
      if (!a && !c) continue;
      if (!a || !c) throw new ConfigError(`Classifier-free guidance: cond and uncond must carry the same fields; '${k}' is present on one side only.`);
      both[k] = tf.concat([a, c], 0);
    }
    const out = denoiser.predict(tf.concat([x, x], 0), tf.fill([2 * B], t), both); // [2B, ...]
    const [pu, pc] = tf.split(out, 2, 0);
    return tf.add(pu, tf.mul(tf.sub(pc, pu), guidanceScale)); // [B, ...]
  });
}

/** Options of {@link sample}. */
export interface SampleOptions {
  /** Output shape `[B, H, W, C]` (or `[B, T, H, W, C]` for video models). */
  shape: number[];
  /** Conditioning `[B, ...]` per field. */
  cond?: Conditioning;
  /** Unconditional conditioning for guidance (default: zeros like `cond`). */
  uncond?: Conditioning;
  /** Guidance scale w (default 1: no guidance). */
  guidanceScale?: number;
  /** Inference steps (default 50). */
  steps?: number;
  /** DDIM η (default 0). */
  eta?: number;
  /** Seed for the initial noise and step noise (default 0); ignored when `rng` is given. */
  seed?: number | string;
  /** Random stream (overrides `seed`). */
  rng?: Rng;
  /** The sampler (default: DDIM on `schedule`, or flow Euler for a `flow` schedule). Its timesteps are reset. */
  scheduler?: Scheduler;
  /** Noise schedule or config for the default sampler (default: diffusers' DDIM defaults). */
  schedule?: NoiseSchedule | ScheduleConfigInput;
  /** Start from these latents x_T `[B, ...]` instead of fresh noise (not disposed). */
  latents?: tf.Tensor;
  /** Called after every step with the step index, timestep and the new sample (do not dispose it). */
  onStep?: (i: number, t: number, sample: tf.Tensor) => void;
}

/** The default sampler for a schedule: DDIM, or flow Euler for `flow`. @internal */
export function defaultScheduler(schedule: NoiseSchedule | ScheduleConfigInput | undefined): Scheduler {
  const s = createSchedule(schedule ?? {});
  return s.predictionType === 'flow' ? new FlowMatchEulerScheduler(s) : new DDIMScheduler(s);
}

/**
 * Generate samples: start from x_T ~ N(0, I) (or `latents`) and run the sampler, with batched
 * classifier-free guidance when `guidanceScale` ≠ 1.
 * @param denoiser - the model (its output type must match the schedule's prediction type).
 * @param opts - see {@link SampleOptions}.
 * @returns x_0 `[B, ...]` (the caller owns it).
 * @throws {ShapeError} when `latents` does not match `shape`.
 * @throws {ConfigError} for bad steps or mismatched cond/uncond fields.
 * @example
 * const x0 = sample(model, { shape: [4, 16, 16, 4], cond: { pooled }, guidanceScale: 3, steps: 20, seed: 1,
 *   schedule: { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, clip_sample: false } });
 */
export function sample(denoiser: Denoiser, opts: SampleOptions): tf.Tensor {
  const scheduler = opts.scheduler ?? defaultScheduler(opts.schedule);
  const rng = opts.rng ?? createRng(opts.seed ?? 0);
  const steps = opts.steps ?? 50;
  const eta = opts.eta ?? 0;
  const w = opts.guidanceScale ?? 1;
  if (opts.latents && (opts.latents.rank !== opts.shape.length || opts.latents.shape.some((d, i) => d !== opts.shape[i]))) {
    throw new ShapeError(`sample: latents have shape [${opts.latents.shape.join(', ')}], expected [${opts.shape.join(', ')}].`, { argument: 'latents', actual: opts.latents.shape, expected: opts.shape });
  }
  const timesteps = scheduler.setTimesteps(steps);
  let x = opts.latents ? opts.latents.clone() : randomNormal(rng, opts.shape);
  timesteps.forEach((t, i) => {
    const next = tf.tidy(() => {
      const out = guidedPrediction(denoiser, x, t, opts.cond, opts.uncond, w);
      const { prevSample, predOriginalSample } = scheduler.step(out, t, x, { eta, rng });
      predOriginalSample.dispose();
      return prevSample;
    });
    x.dispose();
    x = next;
    opts.onStep?.(i, t, x);
  });
  return x;
}
