/**
 * The forward (noising) process: `createSchedule`, `addNoise`, `velocity`, prediction
 * targets, SNR and min-SNR-γ weights.
 *
 * Symbols: ᾱ_t = `alphasCumprod[t]`, a_t = √ᾱ_t (signal scale), s_t = √(1 − ᾱ_t) (noise scale),
 * SNR(t) = a_t² / s_t². For the rectified-flow prediction type `flow`, σ = t / T,
 * a_t = 1 − σ, s_t = σ, and the target is `noise − x0`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError } from '../errors.js';
import type { Rng } from '../core/random.js';
import {
  betasFromConfig,
  parseScheduleConfig,
  PREDICTION_TYPES,
  type PredictionType,
  type ScheduleConfig,
  type ScheduleConfigInput,
} from './schedules.js';

/** Timesteps, one per sample: a `[B]` tensor or plain numbers. */
export type Timesteps = tf.Tensor | ArrayLike<number>;

/**
 * A noise schedule: betas, ᾱ, and the tensor maths of the forward process.
 * Holds no tensors (numbers are `Float64Array`), so it never needs `dispose()`.
 * Build one with {@link createSchedule}.
 */
export class NoiseSchedule {
  /** The parsed config (diffusers keys, unknown keys kept). Round-trips through JSON. */
  readonly config: ScheduleConfig;
  /** `T`, the number of training timesteps. */
  readonly numTrainTimesteps: number;
  /** What the model predicts. */
  readonly predictionType: PredictionType;
  /** β_t, `[T]`. */
  readonly betas: Float64Array;
  /** ᾱ_t = Π_{s≤t}(1 − β_s), `[T]`, float64. */
  readonly alphasCumprod: Float64Array;

  /** @param config - a parsed config; prefer {@link createSchedule}. */
  constructor(config: ScheduleConfig) {
    this.config = config;
    this.numTrainTimesteps = config.num_train_timesteps;
    this.predictionType = config.prediction_type;
    this.betas = betasFromConfig(config);
    const acp = new Float64Array(this.betas.length);
    let p = 1;
    for (let i = 0; i < acp.length; i++) {
      p *= 1 - this.betas[i];
      acp[i] = p;
    }
    this.alphasCumprod = acp;
  }

  /** The config as a plain JSON object (`scheduler_config.json`). */
  toJSON(): ScheduleConfig {
    return { ...this.config };
  }

  /** A copy of this schedule with some config keys changed (e.g. another prediction type). */
  with(overrides: ScheduleConfigInput): NoiseSchedule {
    return createSchedule({ ...this.config, ...overrides });
  }

  /**
   * Signal and noise scales `(a_t, s_t)` for each timestep: x_t = a_t·x0 + s_t·noise.
   * @param t - timesteps; integers in [0, T) for discrete schedules, reals in [0, T] for `flow`.
   * @throws {ConfigError} for a timestep out of range.
   */
  scales(t: ArrayLike<number>): { signal: Float64Array; noise: Float64Array } {
    const n = t.length;
    const signal = new Float64Array(n);
    const noise = new Float64Array(n);
    const T = this.numTrainTimesteps;
    for (let i = 0; i < n; i++) {
      const ti = t[i];
      if (this.predictionType === 'flow') {
        if (!(ti >= 0 && ti <= T)) throw new ConfigError(`Timestep ${ti} out of range: flow schedules take t in [0, ${T}].`);
        const sigma = ti / T;
        signal[i] = 1 - sigma;
        noise[i] = sigma;
      } else {
        if (!Number.isInteger(ti) || ti < 0 || ti >= T) {
          throw new ConfigError(`Timestep ${ti} out of range: this schedule takes integers in [0, ${T - 1}].`);
        }
        signal[i] = Math.sqrt(this.alphasCumprod[ti]);
        noise[i] = Math.sqrt(1 - this.alphasCumprod[ti]);
      }
    }
    return { signal, noise };
  }

  /**
   * Noise clean samples: x_t = a_t·x0 + s_t·noise (diffusers `add_noise`; for `flow`, (1 − σ)·x0 + σ·noise).
   * @param x0 - clean samples `[B, ...]`.
   * @param noise - standard normal noise, same shape.
   * @param t - one timestep per sample, `[B]`.
   * @returns x_t, `[B, ...]`.
   * @throws {ShapeError} when shapes disagree.
   */
  addNoise(x0: tf.Tensor, noise: tf.Tensor, t: Timesteps): tf.Tensor {
    return tf.tidy(() => {
      const [a, s] = this.scaleTensors(x0, noise, t, 'addNoise');
      return tf.add(tf.mul(x0, a), tf.mul(noise, s)); // [B, ...]
    });
  }

  /**
   * The velocity v = a_t·noise − s_t·x0 (Salimans & Ho 2022; diffusers `get_velocity`).
   * @param x0 - clean samples `[B, ...]`.
   * @param noise - noise, same shape.
   * @param t - timesteps `[B]`.
   * @returns v, `[B, ...]`.
   * @see https://arxiv.org/abs/2202.00512 (Eq. 4 / Appendix D)
   */
  velocity(x0: tf.Tensor, noise: tf.Tensor, t: Timesteps): tf.Tensor {
    return tf.tidy(() => {
      const [a, s] = this.scaleTensors(x0, noise, t, 'velocity');
      return tf.sub(tf.mul(noise, a), tf.mul(x0, s)); // [B, ...]
    });
  }

  /**
   * The regression target for this schedule's prediction type: `noise` (epsilon),
   * `velocity` (v_prediction), `x0` (sample) or `noise − x0` (flow).
   * @param x0 - clean samples `[B, ...]`.
   * @param noise - noise, same shape.
   * @param t - timesteps `[B]`.
   * @returns the target, `[B, ...]` (a new tensor).
   */
  target(x0: tf.Tensor, noise: tf.Tensor, t: Timesteps): tf.Tensor {
    const pt = this.predictionType;
    switch (pt) {
      case 'epsilon':
        return noise.clone();
      case 'sample':
        return x0.clone();
      case 'v_prediction':
        return this.velocity(x0, noise, t);
      case 'flow':
        return tf.sub(noise, x0);
      default: {
        const never: never = pt;
        throw new ConfigError(`Unknown prediction_type "${String(never)}". Expected one of: ${PREDICTION_TYPES.join(', ')}.`);
      }
    }
  }

  /**
   * Convert a model output at x_t into `{ x0, eps }` (predicted clean sample and noise).
   * @param modelOutput - the model's prediction `[B, ...]`.
   * @param xt - the noised input `[B, ...]`.
   * @param t - timesteps `[B]`.
   * @returns `{ x0, eps }`, each `[B, ...]`; the caller owns both.
   */
  predictedOriginalAndNoise(modelOutput: tf.Tensor, xt: tf.Tensor, t: Timesteps): { x0: tf.Tensor; eps: tf.Tensor } {
    return tf.tidy(() => {
      const [a, s] = this.scaleTensors(xt, modelOutput, t, 'predictedOriginalAndNoise');
      const pt = this.predictionType;
      switch (pt) {
        case 'epsilon':
          return { x0: tf.div(tf.sub(xt, tf.mul(s, modelOutput)), a), eps: modelOutput.clone() };
        case 'sample':
          return { x0: modelOutput.clone(), eps: tf.div(tf.sub(xt, tf.mul(a, modelOutput)), s) };
        case 'v_prediction':
          return { x0: tf.sub(tf.mul(a, xt), tf.mul(s, modelOutput)), eps: tf.add(tf.mul(a, modelOutput), tf.mul(s, xt)) };
        case 'flow':
          // x_t = (1-σ)x0 + σ ε, u = ε - x0  =>  x0 = x_t - σ u, ε = x_t + (1-σ) u
          return { x0: tf.sub(xt, tf.mul(s, modelOutput)), eps: tf.add(xt, tf.mul(a, modelOutput)) };
        default: {
          const never: never = pt;
          throw new ConfigError(`Unknown prediction_type "${String(never)}".`);
        }
      }
    });
  }

  /**
   * Signal-to-noise ratio a_t² / s_t² per timestep (Kingma et al. 2021).
   * @param t - timesteps.
   * @returns SNR per timestep (Infinity where s_t = 0).
   */
  snr(t: ArrayLike<number> | number): Float64Array {
    const ts = typeof t === 'number' ? [t] : t;
    const { signal, noise } = this.scales(ts);
    return signal.map((a, i) => (a * a) / (noise[i] * noise[i]));
  }

  /**
   * Min-SNR-γ loss weights for this prediction type (Hang et al. 2023): the weight that turns the
   * model-target MSE into min(SNR, γ)·‖x0 − x̂0‖². epsilon: min(SNR, γ)/SNR; v_prediction:
   * min(SNR, γ)/(SNR + 1); sample: min(SNR, γ); flow: min(SNR, γ)·σ².
   * @param t - timesteps `[B]`.
   * @param gamma - γ, default 5.
   * @returns one weight per timestep.
   * @see https://arxiv.org/abs/2303.09556 (Eq. 9 and Section 3.4)
   */
  minSnrWeights(t: ArrayLike<number>, gamma = 5): Float64Array {
    if (!(gamma > 0)) throw new ConfigError(`minSnrWeights: gamma must be > 0, got ${gamma}.`);
    const snr = this.snr(t);
    const { noise } = this.scales(t);
    const pt = this.predictionType;
    return snr.map((r, i) => {
      const m = Math.min(r, gamma);
      switch (pt) {
        case 'epsilon':
          return r === 0 ? 1 : m / r;
        case 'v_prediction':
          return m / (r + 1);
        case 'sample':
          return m;
        case 'flow':
          return m * noise[i] * noise[i];
        default: {
          const never: never = pt;
          throw new ConfigError(`Unknown prediction_type "${String(never)}".`);
        }
      }
    });
  }

  /**
   * Draw one training timestep per sample, uniform over [0, T) (integers).
   * @param rng - the random stream.
   * @param n - how many.
   */
  sampleTimesteps(rng: Rng, n: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < n; i++) out.push(rng.int(0, this.numTrainTimesteps));
    return out;
  }

  /** `[B, 1, ..., 1]` tensors of a_t and s_t, broadcastable against `x`. */
  private scaleTensors(x: tf.Tensor, other: tf.Tensor, t: Timesteps, fn: string): [tf.Tensor, tf.Tensor] {
    if (!arraysEqual(x.shape, other.shape)) {
      throw new ShapeError(`Arguments to ${fn} disagree: shape [${x.shape.join(', ')}] vs [${other.shape.join(', ')}]; expected equal shapes [B, ...].`, {
        argument: 'noise',
        actual: other.shape,
        expected: x.shape,
      });
    }
    const B = x.shape[0];
    const bshape = [B, ...x.shape.slice(1).map(() => 1)];
    if (t instanceof tf.Tensor) {
      if (t.size !== B) {
        throw new ShapeError(`Argument 't' to ${fn} has shape [${t.shape.join(', ')}], expected [${B}] (one timestep per sample).`, {
          argument: 't',
          actual: t.shape,
          expected: [B],
        });
      }
      if (this.predictionType === 'flow') {
        const sigma = tf.div(tf.cast(tf.reshape(t, bshape), 'float32'), this.numTrainTimesteps);
        return [tf.sub(1, sigma), sigma];
      }
      const idx = tf.cast(tf.reshape(t, [B]), 'int32');
      const a = tf.gather(tf.tensor1d(Float32Array.from(this.alphasCumprod, Math.sqrt)), idx);
      const s = tf.gather(tf.tensor1d(Float32Array.from(this.alphasCumprod, (v) => Math.sqrt(1 - v))), idx);
      return [tf.reshape(a, bshape), tf.reshape(s, bshape)];
    }
    if (t.length !== B) {
      throw new ShapeError(`Argument 't' to ${fn} has ${t.length} timesteps, expected ${B} (one per sample).`, { argument: 't', actual: [t.length], expected: [B] });
    }
    const { signal, noise } = this.scales(t);
    return [tf.tensor(Float32Array.from(signal), bshape), tf.tensor(Float32Array.from(noise), bshape)];
  }
}

function arraysEqual(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * Build a noise schedule from diffusers `scheduler_config.json` keys, or from such a file.
 * @param config - config keys (diffusers' DDIM defaults fill the rest; unknown keys are kept),
 *   a path to a JSON file, or an existing schedule (returned as is).
 * @returns the schedule.
 * @throws {ConfigError} for a bad value or an unreadable file.
 * @example
 * const schedule = createSchedule({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
 * const xt = schedule.addNoise(x0, noise, [10, 500]);
 */
export function createSchedule(config: ScheduleConfigInput | string | NoiseSchedule = {}): NoiseSchedule {
  if (config instanceof NoiseSchedule) return config;
  return new NoiseSchedule(parseScheduleConfig(config));
}
