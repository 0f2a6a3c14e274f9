/**
 * The `Denoiser` contract: every model the trainer, samplers and inversion drive.
 * @module
 */
import type * as tf from '@tensorflow/tfjs';

/**
 * Conditioning for one batch: a token sequence for cross-attention and/or a pooled vector.
 * Batch sizes must match the model input's batch.
 */
export type Conditioning = {
  /** Token embeddings `[B, L, D]` for cross-attention. */
  tokens?: tf.Tensor;
  /** Optional key mask `[B, L]` (1 = keep, 0 = pad). */
  tokenMask?: tf.Tensor;
  /** Pooled conditioning vector `[B, D]`. */
  pooled?: tf.Tensor;
};

/** JSON-serialisable model configuration; `kind` names the model class. */
export interface DenoiserConfig {
  readonly kind: string;
  readonly [key: string]: unknown;
}

/** A noise-prediction network. */
export interface Denoiser {
  /** The model's configuration (saved beside the weights). */
  readonly config: DenoiserConfig;
  /**
   * Predict the model target (noise, velocity, sample or flow, per the schedule) for noised input `xt`.
   * Runs synchronously; the caller owns the returned tensor. Records gradients when called inside
   * `tf.variableGrads`.
   * @param xt - noised latents, `[B, H, W, C]` (images) or `[B, T, H, W, C]` (video).
   * @param t - one timestep per sample, `[B]` float32 (integer-valued for discrete schedules).
   * @param cond - conditioning for the batch.
   * @returns the prediction, same shape as `xt`.
   */
  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor;
  /** The variables an optimizer updates, in a stable order. */
  readonly trainableVariables: tf.Variable[];
  /** Name → variable, in a stable order (safetensors keys). */
  namedVariables(): Record<string, tf.Variable>;
  /** A deep copy with non-trainable variables: shares no tensor with this model. */
  cloneFrozen(): Denoiser;
  /** Write `model.safetensors` and `config.json` into `dir` (atomically). */
  save(dir: string): Promise<void>;
  /** Free every tensor the model owns. */
  dispose(): void;
}
