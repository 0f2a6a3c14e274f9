/**
 * DDIM sampler, numerically as diffusers' `DDIMScheduler` (thresholding aside).
 *
 * Symbols: ᾱ_t = `alphaProdT`, ᾱ_{t−Δ} = `alphaProdPrev`, σ_t(η) = `stdDev`,
 * x̂0 = `predOriginalSample`, ε̂ = `predEpsilon`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { randomNormal } from '../core/random.js';
import { createSchedule, NoiseSchedule } from './noising.js';
import { inferenceTimesteps, type ScheduleConfigInput } from './schedules.js';
import type { Scheduler, StepOptions, StepOutput } from './scheduler.js';

/** Throw unless the schedule is a discrete (non-flow) one. */
export function assertDiscrete(schedule: NoiseSchedule, who: string): void {
  if (schedule.predictionType === 'flow') {
    throw new ConfigError(`${who} does not take prediction_type 'flow'. Use FlowMatchEulerScheduler for rectified-flow models, or epsilon | v_prediction | sample.`);
  }
}

/**
 * Convert a model output to (x̂0, ε̂) at scalar ᾱ_t, as diffusers' DDIM/DDPM step 3.
 * @internal
 */
export function discreteX0Eps(schedule: NoiseSchedule, modelOutput: tf.Tensor, sample: tf.Tensor, alphaProdT: number): { x0: tf.Tensor; eps: tf.Tensor } {
  const a = Math.sqrt(alphaProdT);
  const s = Math.sqrt(1 - alphaProdT);
  const pt = schedule.predictionType;
  switch (pt) {
    case 'epsilon':
      return { x0: tf.div(tf.sub(sample, tf.mul(modelOutput, s)), a), eps: modelOutput };
    case 'sample':
      return { x0: modelOutput, eps: tf.div(tf.sub(sample, tf.mul(modelOutput, a)), s) };
    case 'v_prediction':
      return { x0: tf.sub(tf.mul(sample, a), tf.mul(modelOutput, s)), eps: tf.add(tf.mul(modelOutput, a), tf.mul(sample, s)) };
    case 'flow':
      throw new ConfigError(`prediction_type 'flow' is not a discrete DDIM/DDPM prediction type.`);
    default: {
      const never: never = pt;
      throw new ConfigError(`Unknown prediction_type "${String(never)}".`);
    }
  }
}

/**
 * Denoising diffusion implicit models sampler (Song et al. 2021), equal to diffusers' `DDIMScheduler`
 * for every beta schedule, timestep spacing and prediction type, with `clip_sample`,
 * `clip_sample_range`, `set_alpha_to_one`, `steps_offset` and `rescale_betas_zero_snr`.
 * Holds no tensors.
 * @see https://arxiv.org/abs/2010.02502 Eq. 12 and 16
 * @example
 * const ddim = new DDIMScheduler({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, clip_sample: false });
 * for (const t of ddim.setTimesteps(50)) { ... ddim.step(eps, t, x, { eta: 0 }) ... }
 */
export class DDIMScheduler implements Scheduler {
  /** The noise schedule. */
  readonly schedule: NoiseSchedule;
  /** ᾱ used past the last step: 1 when `set_alpha_to_one`, else ᾱ_0. */
  readonly finalAlphaCumprod: number;
  private ts: number[] = [];
  private n = 0;

  /**
   * @param schedule - a schedule, config keys, or a path to `scheduler_config.json`.
   * @throws {ConfigError} for a bad config or a `flow` prediction type.
   */
  constructor(schedule: NoiseSchedule | ScheduleConfigInput | string = {}) {
    this.schedule = createSchedule(schedule);
    assertDiscrete(this.schedule, 'DDIMScheduler');
    this.finalAlphaCumprod = this.schedule.config.set_alpha_to_one ? 1 : this.schedule.alphasCumprod[0];
  }

  /** Current inference timesteps (descending). */
  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** Number of inference steps set, 0 before {@link setTimesteps}. */
  get numInferenceSteps(): number {
    return this.n;
  }

  /**
   * Set the inference timesteps (diffusers `set_timesteps`).
   * @param n - number of steps in [1, T].
   * @returns the descending timesteps.
   * @throws {ConfigError} for `n` out of range.
   */
  setTimesteps(n: number): number[] {
    this.ts = inferenceTimesteps(this.schedule.config, n);
    this.n = n;
    return [...this.ts];
  }

  /** `t − T // n` (diffusers DDIM's previous timestep; may be negative). */
  previousTimestep(t: number): number {
    this.requireTimesteps();
    return t - Math.floor(this.schedule.numTrainTimesteps / this.n);
  }

  /** ᾱ at `t`, or the final ᾱ for t < 0. */
  alphaProd(t: number): number {
    return t >= 0 ? this.schedule.alphasCumprod[t] : this.finalAlphaCumprod;
  }

  /**
   * One DDIM step from x_t to x_{t−Δ}.
   *
   * 1. Δ = T // n; ᾱ_t, ᾱ_{t−Δ} (final ᾱ when t−Δ < 0).
   * 2. (x̂0, ε̂) from the model output per prediction type; x̂0 clipped to ±clip_sample_range.
   * 3. σ_t = η·√((1 − ᾱ_{t−Δ})/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_{t−Δ})).
   * 4. x_{t−Δ} = √ᾱ_{t−Δ}·x̂0 + √(1 − ᾱ_{t−Δ} − σ_t²)·ε̂ + σ_t·z.
   * @param modelOutput - model prediction `[B, ...]`.
   * @param t - current integer timestep.
   * @param sample - x_t `[B, ...]`.
   * @param opts - `eta` (default 0), `noise` z or an `rng` to draw it (needed when η > 0).
   * @returns `{ prevSample, predOriginalSample }`, owned by the caller.
   * @throws {ConfigError} before `setTimesteps`, or η > 0 without `noise`/`rng`.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts: StepOptions = {}): StepOutput {
    this.requireTimesteps();
    const eta = opts.eta ?? 0;
    if (eta > 0 && !opts.noise && !opts.rng) throw new ConfigError('DDIMScheduler.step: eta > 0 needs variance noise: pass { noise } or { rng }.');
    const c = this.schedule.config;
    const prevT = this.previousTimestep(t);
    const alphaProdT = this.alphaProd(t);
    const alphaProdPrev = this.alphaProd(prevT);
    const betaProdT = 1 - alphaProdT;
    const variance = ((1 - alphaProdPrev) / betaProdT) * (1 - alphaProdT / alphaProdPrev);
    const stdDev = eta * Math.sqrt(variance);
    return tf.tidy(() => {
      let { x0, eps } = discreteX0Eps(this.schedule, modelOutput, sample, alphaProdT); // [B, ...]
      if (c.clip_sample) x0 = tf.clipByValue(x0, -c.clip_sample_range, c.clip_sample_range);
      if (opts.useClippedModelOutput) eps = tf.div(tf.sub(sample, tf.mul(x0, Math.sqrt(alphaProdT))), Math.sqrt(betaProdT));
      const direction = tf.mul(eps, Math.sqrt(Math.max(0, 1 - alphaProdPrev - stdDev * stdDev)));
      let prev = tf.add(tf.mul(x0, Math.sqrt(alphaProdPrev)), direction); // [B, ...]
      if (eta > 0) {
        const z = opts.noise ?? randomNormal(opts.rng!, sample.shape);
        prev = tf.add(prev, tf.mul(z, stdDev));
      }
      return { prevSample: prev, predOriginalSample: x0.clone() };
    });
  }

  private requireTimesteps(): void {
    if (this.n === 0) throw new ConfigError('DDIMScheduler: call setTimesteps(n) before step().');
  }
}
