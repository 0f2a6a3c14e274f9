/**
 * The small contracts the trainer consumes: a source of preference-pair batches, a noise
 * schedule, a conditioner and a loss. Datasets, schedules and losses from the other prefkit
 * folders satisfy them; so can user code.
 * @module
 */
import type * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/random.js';
import type { Conditioning } from '../diffusion/denoiser.js';

/**
 * One batch of preference pairs, `B` pairs. The trainer takes ownership of every tensor in it
 * and disposes them after the step.
 */
export interface TrainBatch {
  /** Preferred samples (images or latents), `[B, H, W, C]` or `[B, T, H, W, C]`. */
  chosen: tf.Tensor;
  /** Dispreferred samples, same shape as `chosen`. */
  rejected: tf.Tensor;
  /** One prompt per pair (conditioning for both sides unless per-side captions are given). */
  prompts: readonly string[];
  /** Per-side caption for the chosen sample (DCPO). */
  captionChosen?: readonly string[];
  /** Per-side caption for the rejected sample (DCPO). */
  captionRejected?: readonly string[];
  /** Probability that `chosen` is preferred, `[B]` in [0, 1] (1 = hard label; SmPO soft labels). */
  preference?: tf.Tensor | readonly number[];
  /** Per-segment labels `[B, F]` in {+1, -1, 0} (DenseDPO). */
  segmentLabels?: tf.Tensor;
  /** Fixed noise per pair `[B, ...]` (e.g. from DDIM inversion); drawn from the trainer's RNG when absent. */
  noise?: tf.Tensor;
  /** Fixed timestep per pair (B numbers); drawn from the trainer's RNG when absent. */
  timesteps?: readonly number[];
  /** Precomputed reference errors of the chosen samples, `[B]` (or `[B, F]` for segment losses). */
  refChosenError?: tf.Tensor;
  /** Precomputed reference errors of the rejected samples, `[B]` (or `[B, F]`). */
  refRejectedError?: tf.Tensor;
}

/**
 * Where the trainer gets its batches. `PairDataset` from `prefkit/data` satisfies it; the state
 * is the data cursor saved in checkpoints.
 */
export interface PairBatchSource {
  /**
   * The next batch of `batchSize` pairs (a source with a fixed batch size may ignore the argument:
   * the trainer checks the size it gets).
   */
  next(batchSize: number): TrainBatch | Promise<TrainBatch>;
  /** A JSON-serialisable cursor. */
  getState(): unknown;
  /** Restore a cursor from {@link PairBatchSource.getState}. */
  setState(state: never): void;
}

/**
 * The part of a noise schedule the trainer uses: how many discrete timesteps it has, how to noise a
 * clean sample, and what the model should predict. `createSchedule` from `prefkit/diffusion` satisfies it.
 */
export interface TrainSchedule {
  /** Number of training timesteps; without `sampleTimesteps` the trainer draws integer t uniformly in [0, numTrainTimesteps). */
  readonly numTrainTimesteps: number;
  /** Draw `n` training timesteps (e.g. reals for flow schedules). */
  sampleTimesteps?(rng: Rng, n: number): number[];
  /**
   * Noise clean samples: x_t = sqrt(ᾱ_t)·x0 + sqrt(1 − ᾱ_t)·ε.
   * @param x0 - clean samples `[N, ...]`; @param noise - ε, same shape; @param t - N timesteps.
   */
  addNoise(x0: tf.Tensor, noise: tf.Tensor, t: number[]): tf.Tensor;
  /** The regression target for the model (ε, v, x0 or flow), same shape as `x0`; `t` as for addNoise. */
  target(x0: tf.Tensor, noise: tf.Tensor, t: number[]): tf.Tensor;
}

/**
 * Frozen prompt encoder: prompts in, conditioning out (for example a tiny text encoder).
 * The trainer calls it outside the gradient tape and disposes what it returns.
 */
export type Conditioner = (prompts: readonly string[]) => Conditioning;

/** Inputs of a preference loss: per-sample denoising errors of policy and reference. */
export interface TrainerLossInputs {
  /** Policy error on chosen samples `[B]` (or `[B, F]` per segment). */
  policyChosen: tf.Tensor;
  /** Policy error on rejected samples. */
  policyRejected: tf.Tensor;
  /** Reference error on chosen samples (absent when the loss needs no reference). */
  refChosen?: tf.Tensor;
  /** Reference error on rejected samples. */
  refRejected?: tf.Tensor;
  /** Soft preference `[B]`. */
  preference?: tf.Tensor;
  /** Segment labels `[B, F]`. */
  segmentLabels?: tf.Tensor;
}

/**
 * What the trainer needs of a loss: the shape of `LossSpec` in `prefkit/losses` (the registry).
 */
export interface TrainerLoss {
  /** Registry name. */
  readonly name: string;
  /** zod schema of the options (parsed once by the trainer). */
  readonly schema: { safeParse(v: unknown): { success: boolean; data?: unknown; error?: unknown } };
  /** Capabilities the trainer reads to decide what to compute. */
  readonly requires: {
    readonly reference: boolean;
    readonly softLabels?: boolean;
    readonly segmentLabels?: boolean;
    readonly dualCaptions?: boolean;
    readonly unpaired?: boolean;
  };
  /** `sample`: one error per sample `[B]`; `segment`: one per frame segment `[B, F]`. */
  readonly errorKind: 'sample' | 'segment';
  /** Loss and metrics from errors; pure and synchronous. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  compute(inputs: TrainerLossInputs, options: any): { loss: tf.Scalar; metrics: Record<string, tf.Scalar> };
}
