/**
 * DDPM ancestral sampler, numerically as diffusers' `DDPMScheduler` (fixed variance types).
 *
 * Symbols: ᾱ_t = `alphaProdT`, ᾱ_{t'} = `alphaProdPrev` (t' the previous timestep),
 * α_t = ᾱ_t/ᾱ_{t'} = `currentAlpha`, β_t = 1 − α_t = `currentBeta`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { randomNormal } from '../core/random.js';
import { createSchedule, NoiseSchedule } from './noising.js';
import { inferenceTimesteps, type ScheduleConfigInput } from './schedules.js';
import type { Scheduler, StepOptions, StepOutput } from './scheduler.js';
import { assertDiscrete, discreteX0Eps } from './ddim.js';

/**
 * Denoising diffusion probabilistic models sampler (Ho et al. 2020), equal to diffusers'
 * `DDPMScheduler` with `variance_type` `fixed_small`, `fixed_small_log` or `fixed_large`.
 * Without `setTimesteps` it steps t → t − 1 over all T training steps. Holds no tensors.
 * @see https://arxiv.org/abs/2006.11239 Eq. 6, 7 and 15
 */
export class DDPMScheduler implements Scheduler {
  /** The noise schedule. */
  readonly schedule: NoiseSchedule;
  private ts: number[] = [];
  private n = 0;

  /**
   * @param schedule - a schedule, config keys, or a path to `scheduler_config.json`.
   * @throws {ConfigError} for a bad config or a `flow` prediction type.
   */
  constructor(schedule: NoiseSchedule | ScheduleConfigInput | string = {}) {
    this.schedule = createSchedule(schedule);
    assertDiscrete(this.schedule, 'DDPMScheduler');
    this.ts = Array.from({ length: this.schedule.numTrainTimesteps }, (_, i) => this.schedule.numTrainTimesteps - 1 - i);
  }

  /** Current timesteps (descending; all T before {@link setTimesteps}). */
  get timesteps(): readonly number[] {
    return this.ts;
  }

  /**
   * Set the inference timesteps (diffusers `set_timesteps`).
   * @param n - number of steps in [1, T].
   * @throws {ConfigError} for `n` out of range.
   */
  setTimesteps(n: number): number[] {
    this.ts = inferenceTimesteps(this.schedule.config, n);
    this.n = n;
    return [...this.ts];
  }

  /**
   * The next timestep in the list after `t` (−1 after the last), or t − 1 before `setTimesteps`.
   * @throws {ConfigError} when `t` is not one of the timesteps.
   */
  previousTimestep(t: number): number {
    if (this.n === 0) return t - 1;
    const i = this.ts.indexOf(t);
    if (i < 0) throw new ConfigError(`DDPMScheduler: timestep ${t} is not one of the inference timesteps [${this.ts.slice(0, 5).join(', ')}, ...].`);
    return i === this.ts.length - 1 ? -1 : this.ts[i + 1];
  }

  /**
   * One ancestral step.
   *
   * 1. ᾱ_t, ᾱ_{t'} (1 when t' < 0), α_t = ᾱ_t/ᾱ_{t'}, β_t = 1 − α_t.
   * 2. x̂0 from the model output, clipped when `clip_sample`.
   * 3. μ = √ᾱ_{t'}·β_t/(1 − ᾱ_t)·x̂0 + √α_t·(1 − ᾱ_{t'})/(1 − ᾱ_t)·x_t (Eq. 7).
   * 4. For t > 0: x_{t'} = μ + √var·z, var = max((1 − ᾱ_{t'})/(1 − ᾱ_t)·β_t, 1e-20) (fixed_small)
   *    or β_t (fixed_large).
   * @param modelOutput - model prediction `[B, ...]`.
   * @param t - current timestep.
   * @param sample - x_t `[B, ...]`.
   * @param opts - `noise` z or an `rng` to draw it (needed for t > 0).
   * @returns `{ prevSample, predOriginalSample }`, owned by the caller.
   * @throws {ConfigError} when t > 0 and neither `noise` nor `rng` is given.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts: StepOptions = {}): StepOutput {
    const c = this.schedule.config;
    const acp = this.schedule.alphasCumprod;
    const prevT = this.previousTimestep(t);
    const alphaProdT = acp[t];
    const alphaProdPrev = prevT >= 0 ? acp[prevT] : 1;
    const betaProdT = 1 - alphaProdT;
    const betaProdPrev = 1 - alphaProdPrev;
    const currentAlpha = alphaProdT / alphaProdPrev;
    const currentBeta = 1 - currentAlpha;
    if (t > 0 && !opts.noise && !opts.rng) throw new ConfigError('DDPMScheduler.step: steps with t > 0 need noise: pass { noise } or { rng }.');
    return tf.tidy(() => {
      let { x0 } = discreteX0Eps(this.schedule, modelOutput, sample, alphaProdT);
      if (c.clip_sample) x0 = tf.clipByValue(x0, -c.clip_sample_range, c.clip_sample_range);
      const x0Coeff = (Math.sqrt(alphaProdPrev) * currentBeta) / betaProdT;
      const curCoeff = (Math.sqrt(currentAlpha) * betaProdPrev) / betaProdT;
      let prev = tf.add(tf.mul(x0, x0Coeff), tf.mul(sample, curCoeff)); // [B, ...]
      if (t > 0) {
        let variance = Math.max((betaProdPrev / betaProdT) * currentBeta, 1e-20);
        if (c.variance_type === 'fixed_large') variance = currentBeta;
        const z = opts.noise ?? randomNormal(opts.rng!, sample.shape);
        prev = tf.add(prev, tf.mul(z, Math.sqrt(variance)));
      }
      return { prevSample: prev, predOriginalSample: x0.clone() };
    });
  }
}
