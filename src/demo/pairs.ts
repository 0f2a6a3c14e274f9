/**
 * On-policy preference pairs: K samples per prompt from the current model, ranked by the reward
 * judge; the best and the worst of each group become a (chosen, rejected) pair.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, rngFromState, type Rng, type RngState } from '../core/random.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import { sample } from '../diffusion/sampler.js';
import { ConfigError } from '../errors.js';
import type { PairBatchSource, TrainBatch } from '../train/types.js';
import type { DemoBundle } from './bundle.js';
import { batchRewards, type RewardBreakdown } from './judge.js';

/** Options of {@link generateSamples}. */
export interface GenerateOptions {
  /** Sampling seed (the initial noise of sample i depends on seed and i only). */
  seed: number | string;
  /** DDIM steps (default: the bundle's). */
  steps?: number;
  /** Samples per model call (default 80). */
  chunk?: number;
}

/** Samples with their latents, decoded images and rewards. */
export interface GeneratedSamples {
  /** `[N, h, w, c]` latents (caller owns). */
  latents: tf.Tensor4D;
  /** `[N, H, W, 3]` images in [-1, 1] (caller owns). */
  images: tf.Tensor4D;
  rewards: RewardBreakdown[];
}

/**
 * Sample the model for a list of prompts (DDIM, no guidance), decode and score each sample.
 * @param model - the denoiser. @param bundle - text encoder, autoencoder and schedule.
 * @param prompts - one prompt per sample.
 * @param opts - seed, steps, chunk.
 * @returns latents, images and rewards (the caller disposes the tensors).
 * @throws {ConfigError} for an empty prompt list.
 */
export function generateSamples(model: Denoiser, bundle: DemoBundle, prompts: readonly string[], opts: GenerateOptions): GeneratedSamples {
  if (prompts.length === 0) throw new ConfigError('generateSamples: no prompts given.');
  const { latentSize: s, latentChannels: c } = bundle.meta;
  const chunk = opts.chunk ?? 80;
  const lat: tf.Tensor[] = [];
  const img: tf.Tensor[] = [];
  for (let i = 0; i < prompts.length; i += chunk) {
    const part = prompts.slice(i, i + chunk);
    const noiseRng = createRng(`${opts.seed}/noise/${i}`);
    const z = tf.tidy(() => {
      const cond = bundle.textEncoder.encode(part);
      const x = tf.tensor4d(noiseRng.normalArray(part.length * s * s * c), [part.length, s, s, c]);
      return sample(model, { shape: [part.length, s, s, c], cond, steps: opts.steps ?? bundle.meta.samplingSteps, latents: x, schedule: bundle.meta.schedule, rng: noiseRng });
    }) as tf.Tensor4D;
    lat.push(z);
    img.push(bundle.autoencoder.decode(z));
  }
  const latents = (lat.length === 1 ? lat[0] : tf.concat(lat, 0)) as tf.Tensor4D;
  const images = (img.length === 1 ? img[0] : tf.concat(img, 0)) as tf.Tensor4D;
  if (lat.length > 1) tf.dispose([...lat, ...img]);
  return { latents, images, rewards: batchRewards(images, prompts) };
}

/** One preference pair of latents. */
export interface LatentPair {
  prompt: string;
  /** `[h, w, c]` (owned by the pair set). */
  chosen: tf.Tensor3D;
  rejected: tf.Tensor3D;
  chosenReward: number;
  rejectedReward: number;
}

/** Options of {@link makeOnPolicyPairs}. */
export interface OnPolicyPairOptions {
  /** Prompts to make pairs for. */
  prompts: readonly string[];
  /** Samples per group K (default 8). */
  samplesPerGroup?: number;
  /** Groups per prompt (default 4): each gives at most one pair. */
  groupsPerPrompt?: number;
  /** Groups whose best-worst reward gap is under this are dropped (default 0.1). */
  minGap?: number;
  /** Keep a group only when its best sample shows the prompt's colour and shape and its worst does not (default false). */
  strict?: boolean;
  /** Sampling seed. */
  seed: number | string;
  /** DDIM steps (default: the bundle's). */
  steps?: number;
}

/** The pairs plus what was sampled, for reports. */
export interface OnPolicyPairs {
  pairs: LatentPair[];
  /** Mean reward of all samples drawn. */
  meanSampleReward: number;
  /** Samples drawn. */
  samples: number;
  /** Groups dropped (small gap, or not strict-valid). */
  dropped: number;
  /** Decoded chosen / rejected images of the first pairs, `[n, H, W, 3]` each (caller owns), for a grid. */
  preview: { chosen: tf.Tensor4D; rejected: tf.Tensor4D; prompts: string[] };
}

/**
 * Make on-policy preference pairs: for each prompt and group, K samples from `model`, ranked by
 * the reward judge; best vs worst becomes a pair when their gap is at least `minGap`.
 * @param model - the base model. @param bundle - encoders and schedule.
 * @param opts - see {@link OnPolicyPairOptions}.
 * @returns the pairs (dispose with {@link disposePairs}) and a preview.
 */
export function makeOnPolicyPairs(model: Denoiser, bundle: DemoBundle, opts: OnPolicyPairOptions): OnPolicyPairs {
  const K = opts.samplesPerGroup ?? 8;
  const G = opts.groupsPerPrompt ?? 4;
  const minGap = opts.minGap ?? 0.1;
  if (K < 2) throw new ConfigError(`makeOnPolicyPairs: samplesPerGroup must be at least 2, got ${K}.`);
  const groups: string[] = [];
  for (let g = 0; g < G; g++) for (const p of opts.prompts) groups.push(p);
  const prompts = groups.flatMap((p) => Array<string>(K).fill(p));
  const gen = generateSamples(model, bundle, prompts, { seed: opts.seed, steps: opts.steps });
  const pairs: LatentPair[] = [];
  const prevIdx: [number, number][] = [];
  let dropped = 0;
  const rows = tf.unstack(gen.latents) as tf.Tensor3D[];
  const keep = new Set<number>();
  groups.forEach((p, gi) => {
    const idx = Array.from({ length: K }, (_, k) => gi * K + k);
    idx.sort((a, b) => gen.rewards[b].reward - gen.rewards[a].reward);
    const best = idx[0];
    const worst = idx[K - 1];
    const gap = gen.rewards[best].reward - gen.rewards[worst].reward;
    const ok = (i: number) => gen.rewards[i].colourCorrect && gen.rewards[i].shapeCorrect;
    if (gap < minGap || (opts.strict && (!ok(best) || ok(worst)))) {
      dropped++;
      return;
    }
    keep.add(best).add(worst);
    pairs.push({ prompt: p, chosen: rows[best], rejected: rows[worst], chosenReward: gen.rewards[best].reward, rejectedReward: gen.rewards[worst].reward });
    prevIdx.push([best, worst]);
  });
  rows.forEach((r, i) => {
    if (!keep.has(i)) r.dispose();
  });
  const n = Math.min(8, prevIdx.length);
  const preview = tf.tidy(() => ({
    chosen: tf.gather(gen.images, prevIdx.slice(0, n).map((x) => x[0])) as tf.Tensor4D,
    rejected: tf.gather(gen.images, prevIdx.slice(0, n).map((x) => x[1])) as tf.Tensor4D,
  }));
  const meanSampleReward = gen.rewards.reduce((a, r) => a + r.reward, 0) / gen.rewards.length;
  tf.dispose([gen.latents, gen.images]);
  return { pairs, meanSampleReward, samples: prompts.length, dropped, preview: { ...preview, prompts: pairs.slice(0, n).map((p) => p.prompt) } };
}

/** Free the tensors of a pair list. */
export function disposePairs(pairs: readonly LatentPair[]): void {
  for (const p of pairs) tf.dispose([p.chosen, p.rejected]);
}

/** Cursor of a {@link LatentPairSource}. */
export interface LatentPairSourceState {
  cursor: number;
  order: number[];
  rng: RngState;
}

/**
 * A {@link PairBatchSource} over in-memory latent pairs: reshuffled every epoch with its own RNG.
 * Batches are fresh tensors (the trainer disposes them); the pairs stay owned by the caller.
 */
export class LatentPairSource implements PairBatchSource {
  private cursor = 0;
  private order: number[];
  private rng: Rng;
  /**
   * @param pairs - the pairs (not copied, not disposed). @param seed - shuffle seed.
   * @throws {ConfigError} for an empty list.
   */
  constructor(
    readonly pairs: readonly LatentPair[],
    seed: number | string,
  ) {
    if (pairs.length === 0) throw new ConfigError('LatentPairSource: no pairs (every group had a reward gap under minGap?).');
    this.rng = createRng(seed);
    this.order = this.rng.shuffle(pairs.map((_, i) => i));
  }
  /** The next `batchSize` pairs. */
  next(batchSize: number): TrainBatch {
    const idx: number[] = [];
    for (let i = 0; i < batchSize; i++) {
      if (this.cursor >= this.order.length) {
        this.order = this.rng.shuffle(this.pairs.map((_, j) => j));
        this.cursor = 0;
      }
      idx.push(this.order[this.cursor++]);
    }
    const ps = idx.map((i) => this.pairs[i]);
    return { chosen: tf.stack(ps.map((p) => p.chosen)), rejected: tf.stack(ps.map((p) => p.rejected)), prompts: ps.map((p) => p.prompt) };
  }
  /** The cursor, order and RNG state. */
  getState(): LatentPairSourceState {
    return { cursor: this.cursor, order: this.order.slice(), rng: this.rng.getState() };
  }
  /** Restore {@link getState}. */
  setState(state: LatentPairSourceState): void {
    this.cursor = state.cursor;
    this.order = state.order.slice();
    this.rng = rngFromState(state.rng);
  }
}
