/**
 * Preference-pair batches for training: seeded shuffling per epoch, chosen and rejected
 * latents, prompts (or DCPO's two captions), hard or soft labels and DenseDPO segment
 * labels, with a cursor that checkpoints save and restore.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, ConfigError, ShapeError } from '../errors.js';
import { createRng } from '../core/random.js';
import { decodeImage, bytesToUnit, mapLimit, type LoadImageOptions } from '../image/load.js';
import { identityEncoder, type Encoder } from './encoder.js';
import type { PairManifest, PreferencePair } from './manifest.js';
import type { LatentCache } from './latent-cache.js';

/** One pair held in memory: flattened chosen/rejected arrays of the dataset's `shape`. */
export interface PairExample {
  /** Chosen sample, flattened `[...shape]`. */
  chosen: Float32Array;
  /** Rejected sample, flattened `[...shape]`. */
  rejected: Float32Array;
  prompt: string;
  /** DCPO: caption of the chosen sample (defaults to `prompt` in batches). */
  captionChosen?: string;
  /** DCPO: caption of the rejected sample (defaults to `prompt` in batches). */
  captionRejected?: string;
  /** P(chosen preferred) ∈ [0, 1]. */
  label: number;
  /** DenseDPO per-segment labels in {+1, −1, 0}. */
  segments?: readonly number[];
}

/** Options of {@link PairDataset}. */
export interface PairDatasetOptions {
  /** Pairs per batch (B). */
  batchSize: number;
  /** Seed of the per-epoch shuffles. */
  seed: number | string;
  /** Shuffle each epoch (default true); false keeps dataset order. */
  shuffle?: boolean;
  /** Skip the last, smaller batch of each epoch (default false). */
  dropLast?: boolean;
}

/**
 * One batch from a {@link PairDataset}. The tensors are new; release them with
 * {@link disposePairDatasetBatch} (the trainer does this itself). Row i of every field belongs
 * to pair `indices[i]`. It is a `TrainBatch` of `prefkit/train`.
 */
export interface PairDatasetBatch {
  /** `[B, ...shape]` chosen latents (or images). */
  chosen: tf.Tensor;
  /** `[B, ...shape]` rejected latents (or images). */
  rejected: tf.Tensor;
  /** `[B]` prompts. */
  prompts: string[];
  /** `[B]` chosen captions (DCPO); the prompt where a pair has none. */
  captionChosen: string[];
  /** `[B]` rejected captions (DCPO); the prompt where a pair has none. */
  captionRejected: string[];
  /** `[B]` P(chosen preferred): 1 for hard labels, 0.5 ties, soft values for SmPO. */
  preference: tf.Tensor1D;
  /** `[B, S]` DenseDPO segment labels (+1/−1/0), present when the dataset has them. */
  segmentLabels?: tf.Tensor2D;
  /** Dataset indices of the B pairs. */
  indices: number[];
  /** Epoch the batch belongs to (0-based). */
  epoch: number;
  /** Batch number within the epoch (0-based). */
  step: number;
}

/** Serialisable cursor of a {@link PairDataset}: where the next batch starts. */
export interface PairDatasetState {
  /** Current epoch (0-based). */
  epoch: number;
  /** Position of the next pair within the epoch's order. */
  position: number;
  /** Identity checks, so a checkpoint is not restored onto a different dataset. */
  seed: number | string;
  size: number;
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
}

/**
 * Dispose every tensor of a {@link PairDatasetBatch}.
 * @example
 * const b = ds.nextBatch(); try { step(b); } finally { disposePairDatasetBatch(b); }
 */
export function disposePairDatasetBatch(batch: PairDatasetBatch): void {
  tf.dispose([batch.chosen, batch.rejected, batch.preference]);
  if (batch.segmentLabels) batch.segmentLabels.dispose();
}

/**
 * Preference pairs in memory (plain Float32Arrays; the dataset holds no tensors and needs
 * no `dispose()`), served as batches in a seeded, per-epoch shuffled order.
 *
 * The order of epoch e is `createRng(seed).split('epoch:' + e).shuffle([0..N))`, so it depends
 * only on (seed, e): a restored cursor continues exactly where a run stopped.
 *
 * @example
 * const ds = await PairDataset.fromManifest(await readPairManifest('pairs.jsonl'), { size: 32 }, { batchSize: 4, seed: 0 });
 * const batch = ds.nextBatch(); // batch.chosen: [4, 32, 32, 3]
 * const cursor = ds.getState(); // store in the checkpoint
 * disposePairDatasetBatch(batch);
 */
export class PairDataset {
  /** Shape of one sample, e.g. `[h, w, c]`. */
  readonly shape: readonly number[];
  /** Number of pairs N. */
  readonly size: number;
  readonly batchSize: number;
  readonly seed: number | string;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  /** Whether batches carry `segmentLabels` (every pair has S segment labels). */
  readonly segmentCount: number | null;
  private readonly examples: readonly PairExample[];
  private epochIndex = 0;
  private position = 0;
  private order: number[] | null = null;
  private orderEpoch = -1;

  /**
   * @param examples - the pairs; each `chosen`/`rejected` has `prod(shape)` values.
   * @param shape - the shape of one sample, e.g. `[8, 8, 4]`.
   * @param options - batchSize, seed, shuffle, dropLast.
   * @throws {ConfigError} for no pairs, bad options or labels outside [0, 1].
   * @throws {ShapeError} when a sample has the wrong length or segment counts differ.
   */
  constructor(examples: readonly PairExample[], shape: readonly number[], options: PairDatasetOptions) {
    if (examples.length === 0) throw new ConfigError('PairDataset: no pairs given; expected at least one.');
    if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
      throw new ConfigError(`PairDataset: batchSize must be a positive integer, got ${options.batchSize}.`);
    }
    if (options.seed === undefined) throw new ConfigError('PairDataset: a seed is required (number or string).');
    const n = shape.reduce((a, b) => a * b, 1);
    const segLens = new Set<number>();
    examples.forEach((e, i) => {
      for (const k of ['chosen', 'rejected'] as const) {
        if (e[k].length !== n) {
          throw new ShapeError(`PairDataset: pair ${i} ${k} has ${e[k].length} values, expected ${n} for shape [${shape.join(', ')}].`, {
            argument: `examples[${i}].${k}`,
            actual: [e[k].length],
            expected: [n],
          });
        }
      }
      if (!(e.label >= 0 && e.label <= 1)) throw new ConfigError(`PairDataset: pair ${i} label must be in [0, 1], got ${e.label}.`);
      segLens.add(e.segments ? e.segments.length : 0);
    });
    if (segLens.size > 1) {
      throw new ShapeError(`PairDataset: segment label counts differ across pairs (${[...segLens].join(', ')}); every pair needs the same number S, or none.`);
    }
    const s = [...segLens][0];
    this.segmentCount = s > 0 ? s : null;
    this.examples = examples;
    this.shape = [...shape];
    this.size = examples.length;
    this.batchSize = options.batchSize;
    this.seed = options.seed;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    if (this.dropLast && this.size < this.batchSize) {
      throw new ConfigError(`PairDataset: dropLast with batchSize ${this.batchSize} and only ${this.size} pairs would yield no batch.`);
    }
  }

  /** Batches per epoch. */
  get batchesPerEpoch(): number {
    return this.dropLast ? Math.floor(this.size / this.batchSize) : Math.ceil(this.size / this.batchSize);
  }

  /** Current epoch (0-based) of the next batch. */
  get epoch(): number {
    return this.epochIndex;
  }

  /** The pair at dataset index `i` (no copy). */
  example(i: number): PairExample {
    const e = this.examples[i];
    if (!e) throw new ConfigError(`PairDataset.example: index ${i} out of range [0, ${this.size}).`);
    return e;
  }

  /** Dataset indices in the order of epoch `epoch`. */
  epochOrder(epoch: number): number[] {
    const idx = Array.from({ length: this.size }, (_, i) => i);
    return this.shuffle ? createRng(this.seed).split(`epoch:${epoch}`).shuffle(idx) : idx;
  }

  private currentOrder(): number[] {
    if (this.orderEpoch !== this.epochIndex || !this.order) {
      this.order = this.epochOrder(this.epochIndex);
      this.orderEpoch = this.epochIndex;
    }
    return this.order;
  }

  /**
   * The next batch, moving the cursor; wraps into the next epoch (reshuffled) at the end.
   * @returns a {@link PairDatasetBatch} of new tensors; free it with {@link disposePairDatasetBatch}.
   */
  nextBatch(): PairDatasetBatch {
    const remaining = this.size - this.position;
    if (remaining === 0 || (this.dropLast && remaining < this.batchSize)) {
      this.epochIndex++;
      this.position = 0;
    }
    const order = this.currentOrder();
    const start = this.position;
    const indices = order.slice(start, Math.min(this.size, start + this.batchSize));
    const step = Math.floor(start / this.batchSize);
    const epoch = this.epochIndex;
    this.position = start + indices.length;
    return this.makeBatch(indices, epoch, step);
  }

  /**
   * The next batch (the trainer's `PairBatchSource.next`): same as {@link nextBatch}.
   * @param batchSize - must equal the dataset's `batchSize` when given.
   * @throws {ConfigError} when `batchSize` differs from the dataset's.
   */
  next(batchSize?: number): PairDatasetBatch {
    if (batchSize !== undefined && batchSize !== this.batchSize) {
      throw new ConfigError(`PairDataset.next: asked for batches of ${batchSize}, this dataset was built with batchSize ${this.batchSize}.`);
    }
    return this.nextBatch();
  }

  /** The remaining batches of the current epoch (of the next one when the current one is finished), moving the cursor. */
  *epochBatches(): Generator<PairDatasetBatch> {
    const rest = this.size - this.position;
    if (rest === 0 || (this.dropLast && rest < this.batchSize)) {
      this.epochIndex++;
      this.position = 0;
    }
    const epoch = this.epochIndex;
    while (this.epochIndex === epoch && this.position < this.size && !(this.dropLast && this.size - this.position < this.batchSize)) {
      yield this.nextBatch();
    }
  }

  /**
   * Build a batch from dataset indices (does not move the cursor).
   * @param indices - dataset indices, B of them.
   */
  makeBatch(indices: readonly number[], epoch = this.epochIndex, step = 0): PairDatasetBatch {
    const n = this.shape.reduce((a, b) => a * b, 1);
    const B = indices.length;
    const chosen = new Float32Array(B * n);
    const rejected = new Float32Array(B * n);
    const pref = new Float32Array(B);
    const S = this.segmentCount;
    const seg = S ? new Float32Array(B * S) : null;
    const prompts: string[] = [];
    const cc: string[] = [];
    const cr: string[] = [];
    indices.forEach((ix, b) => {
      const e = this.example(ix);
      chosen.set(e.chosen, b * n);
      rejected.set(e.rejected, b * n);
      pref[b] = e.label;
      if (seg && e.segments) seg.set(e.segments, b * S!);
      prompts.push(e.prompt);
      cc.push(e.captionChosen ?? e.prompt);
      cr.push(e.captionRejected ?? e.prompt);
    });
    return {
      chosen: tf.tensor(chosen, [B, ...this.shape], 'float32'),
      rejected: tf.tensor(rejected, [B, ...this.shape], 'float32'),
      prompts,
      captionChosen: cc,
      captionRejected: cr,
      preference: tf.tensor1d(pref, 'float32'),
      ...(seg ? { segmentLabels: tf.tensor2d(seg, [B, S!], 'float32') } : {}),
      indices: [...indices],
      epoch,
      step,
    };
  }

  /** The cursor, for checkpoints (JSON-serialisable). */
  getState(): PairDatasetState {
    return {
      epoch: this.epochIndex,
      position: this.position,
      seed: this.seed,
      size: this.size,
      batchSize: this.batchSize,
      shuffle: this.shuffle,
      dropLast: this.dropLast,
    };
  }

  /**
   * Restore a cursor saved by {@link getState}; the next batch is the one that would have followed.
   * @throws {CheckpointError} when the state belongs to a different dataset (size, seed, batch size, shuffle, dropLast).
   */
  setState(state: PairDatasetState): void {
    const mine = this.getState();
    for (const k of ['seed', 'size', 'batchSize', 'shuffle', 'dropLast'] as const) {
      if (state?.[k] !== mine[k]) {
        throw new CheckpointError(
          `PairDataset.setState: saved ${k} is ${JSON.stringify(state?.[k])}, this dataset has ${JSON.stringify(mine[k])}; the cursor belongs to a different dataset.`,
        );
      }
    }
    if (!Number.isInteger(state.epoch) || state.epoch < 0 || !Number.isInteger(state.position) || state.position < 0 || state.position > this.size) {
      throw new CheckpointError(`PairDataset.setState: invalid cursor epoch=${state.epoch}, position=${state.position} (size ${this.size}).`);
    }
    this.epochIndex = state.epoch;
    this.position = state.position;
  }

  /**
   * A dataset from tensors already in memory (e.g. generated and judged pairs).
   * The values are copied; the caller keeps ownership of the tensors.
   *
   * @param data - `chosen`, `rejected` `[N, ...shape]`, `prompts` `[N]`, optional `labels` `[N]`
   *   (default 1), `captionChosen`/`captionRejected` `[N]`, `segments` `[N][S]`.
   * @param options - batchSize, seed, shuffle, dropLast.
   * @throws {ShapeError} when N differs across fields.
   */
  static fromTensors(
    data: {
      chosen: tf.Tensor;
      rejected: tf.Tensor;
      prompts: readonly string[];
      labels?: readonly number[];
      captionChosen?: readonly string[];
      captionRejected?: readonly string[];
      segments?: readonly (readonly number[])[];
    },
    options: PairDatasetOptions,
  ): PairDataset {
    const N = data.chosen.shape[0];
    if (data.rejected.shape.join() !== data.chosen.shape.join()) {
      throw new ShapeError(`PairDataset.fromTensors: rejected has shape [${data.rejected.shape.join(', ')}], expected [${data.chosen.shape.join(', ')}] like chosen.`);
    }
    for (const [k, v] of Object.entries({ prompts: data.prompts, labels: data.labels, captionChosen: data.captionChosen, captionRejected: data.captionRejected, segments: data.segments })) {
      if (v && v.length !== N) throw new ShapeError(`PairDataset.fromTensors: ${k} has ${v.length} entries, expected N = ${N}.`);
    }
    const shape = data.chosen.shape.slice(1);
    const n = shape.reduce((a, b) => a * b, 1);
    const c = data.chosen.dataSync() as Float32Array;
    const r = data.rejected.dataSync() as Float32Array;
    const examples: PairExample[] = [];
    for (let i = 0; i < N; i++) {
      examples.push({
        chosen: Float32Array.from(c.subarray(i * n, (i + 1) * n)),
        rejected: Float32Array.from(r.subarray(i * n, (i + 1) * n)),
        prompt: data.prompts[i],
        captionChosen: data.captionChosen?.[i],
        captionRejected: data.captionRejected?.[i],
        label: data.labels?.[i] ?? 1,
        segments: data.segments?.[i],
      });
    }
    return new PairDataset(examples, shape, options);
  }

  /**
   * A dataset from a latent cache built with `buildLatentCache` for the same manifest.
   *
   * @param manifest - the pairs (images are hashed to find their entries).
   * @param cache - from `buildLatentCache(...).cache` or `openLatentCache(dir)`.
   * @param options - batchSize, seed, shuffle, dropLast.
   * @throws {ConfigError} when an image is not cached (new or changed since the build).
   * @throws {ShapeError} when latents differ in shape.
   * @example
   * const { cache } = await buildLatentCache(manifest, encoder, 'cache/', { size: 64 });
   * const ds = await PairDataset.fromLatentCache(manifest, cache, { batchSize: 8, seed: 0 });
   */
  static async fromLatentCache(manifest: PairManifest | readonly PreferencePair[], cache: LatentCache, options: PairDatasetOptions): Promise<PairDataset> {
    const records = 'records' in manifest ? manifest.records : manifest;
    const lat = await cache.readPairs(records);
    const shape = lat.length ? lat[0].chosen.shape : [];
    const examples = records.map((r, i) => exampleFromRecord(r, lat[i].chosen.data, lat[i].rejected.data));
    return new PairDataset(examples, shape, options);
  }

  /**
   * Load a manifest's images (decoded, resized, encoded) into a dataset, without a cache.
   * For large datasets build a latent cache once with `buildLatentCache` instead.
   *
   * @param manifest - pairs from `readPairManifest`, `fromPickAPic` or a record list.
   * @param load - image options (`size` required; crop is centre, no flip), `encoder`
   *   (default {@link identityEncoder}), `concurrency` of decoding (default 4), `encodeBatch` (default 8).
   * @param options - batchSize, seed, shuffle, dropLast.
   * @throws {MediaError} for a bad image (the message names it). @throws {ConfigError} without `size`.
   */
  static async fromManifest(
    manifest: PairManifest | readonly PreferencePair[],
    load: Pick<LoadImageOptions, 'size' | 'fit' | 'background' | 'maxPixels'> & { encoder?: Encoder; concurrency?: number; encodeBatch?: number },
    options: PairDatasetOptions,
  ): Promise<PairDataset> {
    const records = 'records' in manifest ? manifest.records : manifest;
    if (load.size === undefined) throw new ConfigError('PairDataset.fromManifest: load.size is required so that all samples share one shape.');
    const encoder = load.encoder ?? identityEncoder;
    const sources = records.flatMap((r) => [r.chosen, r.rejected]);
    const pixels = await mapLimit(sources, load.concurrency ?? 4, async (s) => {
      const d = await decodeImage(s, { size: load.size, fit: load.fit, background: load.background, maxPixels: load.maxPixels });
      return { data: bytesToUnit(d.data), h: d.height, w: d.width };
    });
    const { h, w } = pixels[0];
    const eb = load.encodeBatch ?? 8;
    const latents: Float32Array[] = [];
    let shape: number[] = [];
    for (let i = 0; i < pixels.length; i += eb) {
      const chunk = pixels.slice(i, i + eb);
      const flat = new Float32Array(chunk.length * h * w * 3);
      chunk.forEach((p, j) => flat.set(p.data, j * h * w * 3));
      const lat = tf.tidy(() => encoder.encode(tf.tensor4d(flat, [chunk.length, h, w, 3])));
      shape = lat.shape.slice(1);
      const vals = lat.dataSync() as Float32Array;
      lat.dispose();
      const n = shape.reduce((a, b) => a * b, 1);
      for (let j = 0; j < chunk.length; j++) latents.push(Float32Array.from(vals.subarray(j * n, (j + 1) * n)));
    }
    const examples = records.map((r, i) => exampleFromRecord(r, latents[2 * i], latents[2 * i + 1]));
    return new PairDataset(examples, shape, options);
  }
}

/** One manifest record plus its two latents as a {@link PairExample}. */
function exampleFromRecord(
  r: Pick<PairExample, 'prompt' | 'captionChosen' | 'captionRejected' | 'label' | 'segments'>,
  chosen: Float32Array,
  rejected: Float32Array,
): PairExample {
  return { chosen, rejected, prompt: r.prompt, captionChosen: r.captionChosen, captionRejected: r.captionRejected, label: r.label, segments: r.segments };
}
