/**
 * Per-timestep preference pairs: noise chosen and rejected samples at the same timestep
 * (and, by default, with the same noise), laid out as one batch of 2B.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError } from '../errors.js';
import type { Rng } from '../core/random.js';
import { assertShape } from '../core/shape.js';
import type { Conditioning } from './denoiser.js';
import type { NoiseSchedule } from './noising.js';

/** How the noise of a pair is drawn. */
export type PairNoise = 'shared' | 'independent' | { chosen: tf.Tensor; rejected: tf.Tensor };

/** Options of {@link makePairBatch}. */
export interface PairBatchOptions {
  /** Clean chosen samples (latents or images) `[B, ...]`. */
  chosen: tf.Tensor;
  /** Clean rejected samples `[B, ...]`, same shape. */
  rejected: tf.Tensor;
  /** The noise schedule. */
  schedule: NoiseSchedule;
  /** Random stream for timesteps and noise. */
  rng: Rng;
  /**
   * `'shared'` (default): one noise draw per pair, used for both sides (Diffusion-DPO, DCPO);
   * `'independent'`: a separate draw for each sample; or given tensors `[B, ...]` per side
   * (SmPO: per-image inverted noise).
   */
  noise?: PairNoise;
  /** Timesteps, one per pair `[B]`; default uniform draws in [0, T), one per pair. */
  timesteps?: ArrayLike<number>;
  /** Conditioning of the chosen side `[B, ...]` per field. */
  condChosen?: Conditioning;
  /** Conditioning of the rejected side; default: `condChosen` (same prompt). */
  condRejected?: Conditioning;
}

/** A batch of 2B: chosen samples first (rows 0..B-1), then rejected (rows B..2B-1). */
export type PairBatch = {
  /** Noised inputs `[2B, ...]`. */
  xt: tf.Tensor;
  /** Regression targets for the schedule's prediction type `[2B, ...]`. */
  target: tf.Tensor;
  /** Timesteps `[2B]` float32 (pair i has the same t at rows i and B+i). */
  t: tf.Tensor1D;
  /** The same timesteps as numbers (length 2B). */
  timesteps: number[];
  /** The noise used `[2B, ...]`. */
  noise: tf.Tensor;
  /** Conditioning `[2B, ...]` per field (chosen then rejected); undefined without conditioning. */
  cond?: Conditioning;
};

/**
 * Noise a batch of preference pairs at one timestep per pair.
 *
 * Per pair i: t_i ~ U{0..T-1} (or `timesteps[i]`), ε_i ~ N(0, I) shared by both sides unless
 * `noise` says otherwise; `xt = [a_t·x_w + s_t·ε_w ; a_t·x_l + s_t·ε_l]`, `target` per the
 * schedule's prediction type. The caller owns every tensor returned (`tf.dispose(batch)`).
 * @param opts - see {@link PairBatchOptions}.
 * @returns the 2B batch, chosen then rejected.
 * @throws {ShapeError} when chosen, rejected, noise or conditioning shapes disagree.
 * @throws {ConfigError} for a bad `noise` option or timesteps.
 * @see Wallace et al. 2023, Diffusion Model Alignment Using Direct Preference Optimization, Eq. 14.
 * @example
 * const batch = makePairBatch({ chosen, rejected, schedule, rng: createRng(0), condChosen: { pooled } });
 * // policy.predict(batch.xt, batch.t, batch.cond) -> compare with batch.target
 * tf.dispose(batch);
 */
export function makePairBatch(opts: PairBatchOptions): PairBatch {
  const { chosen, rejected, schedule, rng } = opts;
  const fn = 'makePairBatch';
  const dims: Record<string, number> = {};
  const spec = ['B', ...chosen.shape.slice(1)];
  assertShape(chosen, spec, 'chosen', fn, dims);
  assertShape(rejected, spec, 'rejected', fn, dims);
  const B = chosen.shape[0];
  let ts: number[];
  if (opts.timesteps) {
    if (opts.timesteps.length !== B) throw new ConfigError(`makePairBatch: timesteps has ${opts.timesteps.length} values, expected ${B} (one per pair).`);
    ts = Array.from(opts.timesteps);
  } else ts = schedule.sampleTimesteps(rng, B);
  const timesteps = [...ts, ...ts];
  const noiseOpt = opts.noise ?? 'shared';
  const sampleShape = chosen.shape.slice(1);
  const per = sampleShape.reduce((a, b) => a * b, 1);

  const out = tf.tidy(() => {
    let noise: tf.Tensor;
    if (noiseOpt === 'shared') {
      const n = tf.tensor(rng.normalArray(B * per), [B, ...sampleShape]);
      noise = tf.concat([n, n], 0);
    } else if (noiseOpt === 'independent') {
      noise = tf.tensor(rng.normalArray(2 * B * per), [2 * B, ...sampleShape]);
    } else if (typeof noiseOpt === 'object' && noiseOpt.chosen instanceof tf.Tensor && noiseOpt.rejected instanceof tf.Tensor) {
      assertShape(noiseOpt.chosen, spec, 'noise.chosen', fn, dims);
      assertShape(noiseOpt.rejected, spec, 'noise.rejected', fn, dims);
      noise = tf.concat([noiseOpt.chosen, noiseOpt.rejected], 0);
    } else {
      throw new ConfigError(`makePairBatch: noise must be 'shared', 'independent' or { chosen, rejected } tensors, got ${String(noiseOpt)}.`);
    }
    const x0 = tf.concat([chosen, rejected], 0); // [2B, ...]
    const xt = schedule.addNoise(x0, noise, timesteps);
    const target = schedule.target(x0, noise, timesteps);
    const t = tf.tensor1d(timesteps, 'float32');
    const cond = concatConditioning(opts.condChosen, opts.condRejected ?? opts.condChosen, B);
    return { xt, target, t, noise, cond } as unknown as tf.TensorContainerObject;
  }) as unknown as Omit<PairBatch, 'timesteps'>;
  return { ...out, timesteps };
}

/** Concatenate chosen and rejected conditioning field by field. */
function concatConditioning(a: Conditioning | undefined, b: Conditioning | undefined, B: number): Conditioning | undefined {
  if (!a && !b) return undefined;
  if (!a || !b) throw new ConfigError('makePairBatch: give condChosen (condRejected defaults to it), not condRejected alone.');
  const out: Conditioning = {};
  for (const key of ['tokens', 'tokenMask', 'pooled'] as const) {
    const x = a[key];
    const y = b[key];
    if (!x && !y) continue;
    if (!x || !y) throw new ConfigError(`makePairBatch: conditioning field '${key}' is present on one side only.`);
    if (x.shape[0] !== B || y.shape[0] !== B || x.rank !== y.rank || !x.shape.every((d, i) => i === 0 || d === y.shape[i])) {
      throw new ShapeError(`makePairBatch: cond '${key}' shapes [${x.shape.join(', ')}] and [${y.shape.join(', ')}] must both be [${B}, ...] and agree.`, {
        argument: key,
        actual: y.shape,
        expected: x.shape,
      });
    }
    out[key] = tf.concat([x, y], 0);
  }
  return out;
}
