/**
 * The common shape of the samplers (`DDIMScheduler`, `DDPMScheduler`, `FlowMatchEulerScheduler`).
 * @module
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/random.js';
import type { NoiseSchedule } from './noising.js';

/** Options of one reverse step. */
export interface StepOptions {
  /** DDIM η: 0 = deterministic DDIM, 1 = DDPM-like variance. Ignored by DDPM and flow. */
  eta?: number;
  /** The variance noise `[B, ...]` (diffusers `variance_noise`); drawn from `rng` when absent and needed. */
  noise?: tf.Tensor;
  /** Random stream for the variance noise when `noise` is not given. */
  rng?: Rng;
  /** DDIM: re-derive ε from the clipped x̂0 (diffusers `use_clipped_model_output`). */
  useClippedModelOutput?: boolean;
}

/** The result of one reverse step; the caller owns both tensors. */
export type StepOutput = {
  /** x_{t−1}, `[B, ...]`. */
  prevSample: tf.Tensor;
  /** x̂0 predicted at this step, `[B, ...]`. */
  predOriginalSample: tf.Tensor;
};

/** A reverse-process sampler over a {@link NoiseSchedule}. */
export interface Scheduler {
  /** The noise schedule it steps on. */
  readonly schedule: NoiseSchedule;
  /** Current inference timesteps, descending (empty before `setTimesteps`). */
  readonly timesteps: readonly number[];
  /** Set `n` inference steps; returns the timesteps. */
  setTimesteps(n: number): number[];
  /** The timestep a step from `t` lands on (−1 past the end). */
  previousTimestep(t: number): number;
  /** One reverse step from `sample` at timestep `t` given the model output. */
  step(modelOutput: tf.Tensor, t: number, sample: tf.Tensor, opts?: StepOptions): StepOutput;
}
