/**
 * Euler sampler for rectified-flow models (prediction type `flow`: the model predicts u = ε − x0).
 *
 * Symbols: σ = t / T; x_σ = (1 − σ)·x0 + σ·ε; dx/dσ = u.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';
import { createSchedule, NoiseSchedule } from './noising.js';
import type { ScheduleConfigInput } from './schedules.js';
import type { Scheduler, StepOptions, StepOutput } from './scheduler.js';

/**
 * Euler integration of the flow ODE from σ = 1 to σ = 0 in `n` equal steps
 * (timesteps t = T·(1 − i/n), i = 0..n−1). Deterministic; `eta` is ignored.
 * @see Liu et al. 2022, Flow Straight and Fast, https://arxiv.org/abs/2209.03003
 */
export class FlowMatchEulerScheduler implements Scheduler {
  /** The noise schedule (its prediction type must be `flow`). */
  readonly schedule: NoiseSchedule;
  private ts: number[] = [];

  /**
   * @param schedule - a flow schedule, config keys or a path; `prediction_type` defaults to `flow` here.
   * @throws {ConfigError} when the prediction type is not `flow`.
   */
  constructor(schedule: NoiseSchedule | ScheduleConfigInput | string = { prediction_type: 'flow' }) {
    this.schedule = createSchedule(schedule);
    if (this.schedule.predictionType !== 'flow') {
      throw new ConfigError(`FlowMatchEulerScheduler needs prediction_type 'flow', got '${this.schedule.predictionType}'. Use DDIMScheduler or DDPMScheduler.`);
    }
  }

  /** Current timesteps (descending). */
  get timesteps(): readonly number[] {
    return this.ts;
  }

  /** Set `n` equal Euler steps; returns t = T·(1 − i/n). @throws {ConfigError} for n < 1. */
  setTimesteps(n: number): number[] {
    if (!Number.isInteger(n) || n < 1) throw new ConfigError(`FlowMatchEulerScheduler.setTimesteps: n must be a positive integer, got ${n}.`);
    const T = this.schedule.numTrainTimesteps;
    this.ts = Array.from({ length: n }, (_, i) => T * (1 - i / n));
    return [...this.ts];
  }

  /** The next timestep in the list, or 0 after the last. */
  previousTimestep(t: number): number {
    const i = this.ts.indexOf(t);
    if (i < 0) throw new ConfigError(`FlowMatchEulerScheduler: timestep ${t} is not one of the timesteps; call setTimesteps first.`);
    return i === this.ts.length - 1 ? 0 : this.ts[i + 1];
  }

  /**
   * x_{σ'} = x_σ + (σ' − σ)·u, x̂0 = x_σ − σ·u.
   * @param modelOutput - predicted u `[B, ...]`.
   * @param t - current timestep (σ = t/T).
   * @param sample - x_σ `[B, ...]`.
   * @returns `{ prevSample, predOriginalSample }`.
   */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, _opts: StepOptions = {}): StepOutput {
    const T = this.schedule.numTrainTimesteps;
    const sigma = t / T;
    const sigmaNext = this.previousTimestep(t) / T;
    return tf.tidy(() => ({
      prevSample: tf.add(sample, tf.mul(modelOutput, sigmaNext - sigma)),
      predOriginalSample: tf.sub(sample, tf.mul(modelOutput, sigma)),
    }));
  }
}
