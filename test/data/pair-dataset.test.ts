import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { PairDataset, disposePairDatasetBatch, type PairDatasetBatch } from '../../src/data/pair-dataset.js';
import { identityEncoder, type Encoder } from '../../src/data/encoder.js';
import type { PreferencePair } from '../../src/data/manifest.js';
import { CheckpointError, ConfigError, ShapeError } from '../../src/errors.js';
import type { PairBatchSource, TrainBatch } from '../../src/train/types.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'images');

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

/** N pairs of shape [2, 2, 1]: chosen i is all i, rejected i is all −i; label i/N. */
function indexed(N: number, opts: { batchSize: number; seed: number | string; shuffle?: boolean; dropLast?: boolean }, segments?: number[][]) {
  const chosen = tf.tidy(() => tf.range(0, N).reshape([N, 1, 1, 1]).tile([1, 2, 2, 1]));
  const rejected = tf.tidy(() => chosen.neg());
  const ds = PairDataset.fromTensors(
    {
      chosen,
      rejected,
      prompts: Array.from({ length: N }, (_, i) => `p${i}`),
      labels: Array.from({ length: N }, (_, i) => i / N),
      captionChosen: N > 1 ? undefined : ['c0'],
      segments,
    },
    opts,
  );
  tf.dispose([chosen, rejected]);
  return ds;
}

async function summary(b: PairDatasetBatch) {
  const c = (await b.chosen.array()) as number[][][][];
  const r = (await b.rejected.array()) as number[][][][];
  return { indices: b.indices, chosen: c.map((x) => x[1][1][0]), rejected: r.map((x) => x[0][1][0]), pref: Array.from(await b.preference.data()) };
}

describe('PairDataset', () => {
  it('serves every pair once per epoch, rows consistent across fields', async () => {
    const ds = indexed(5, { batchSize: 2, seed: 7 });
    expect(ds.batchesPerEpoch).toBe(3);
    const seen: number[] = [];
    for (let k = 0; k < 3; k++) {
      const b = ds.nextBatch();
      expect(b.epoch).toBe(0);
      expect(b.step).toBe(k);
      expect(b.chosen.shape).toEqual([k < 2 ? 2 : 1, 2, 2, 1]);
      const s = await summary(b);
      expect(s.chosen).toEqual(s.indices);
      expect(s.rejected.map((v) => v + 0)).toEqual(s.indices.map((i) => 0 - i + 0));
      expect(s.pref.map((p) => Math.round(p * 5))).toEqual(s.indices);
      expect(b.prompts).toEqual(s.indices.map((i) => `p${i}`));
      expect(b.captionChosen).toEqual(b.prompts); // no DCPO captions: the prompt
      expect(b.segmentLabels).toBeUndefined();
      seen.push(...s.indices);
      disposePairDatasetBatch(b);
    }
    expect([...seen].sort()).toEqual([0, 1, 2, 3, 4]);
    const next = ds.nextBatch();
    expect(next.epoch).toBe(1);
    disposePairDatasetBatch(next);
  });

  it('shuffles per epoch from the seed alone', () => {
    const a = indexed(12, { batchSize: 4, seed: 'abc' });
    const b = indexed(12, { batchSize: 4, seed: 'abc' });
    const c = indexed(12, { batchSize: 4, seed: 'abd' });
    expect(a.epochOrder(0)).toEqual(b.epochOrder(0));
    expect(a.epochOrder(3)).toEqual(b.epochOrder(3));
    expect(a.epochOrder(0)).not.toEqual(a.epochOrder(1));
    expect(a.epochOrder(0)).not.toEqual(c.epochOrder(0));
    expect([...a.epochOrder(1)].sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const plain = indexed(5, { batchSize: 2, seed: 1, shuffle: false });
    expect(plain.epochOrder(4)).toEqual([0, 1, 2, 3, 4]);
  });

  it('a restored cursor continues exactly where the run stopped, across epochs', () => {
    const run = indexed(7, { batchSize: 3, seed: 3 });
    for (let i = 0; i < 4; i++) disposePairDatasetBatch(run.nextBatch());
    const saved = JSON.parse(JSON.stringify(run.getState()));
    const after: number[][] = [];
    for (let i = 0; i < 5; i++) {
      const b = run.nextBatch();
      after.push([b.epoch, ...b.indices]);
      disposePairDatasetBatch(b);
    }
    const resumed = indexed(7, { batchSize: 3, seed: 3 });
    resumed.setState(saved);
    const again: number[][] = [];
    for (let i = 0; i < 5; i++) {
      const b = resumed.nextBatch();
      again.push([b.epoch, ...b.indices]);
      disposePairDatasetBatch(b);
    }
    expect(again).toEqual(after);
  });

  it('refuses a cursor from a different dataset', () => {
    const a = indexed(7, { batchSize: 3, seed: 3 });
    const b = indexed(7, { batchSize: 3, seed: 4 });
    expect(() => b.setState(a.getState())).toThrow(CheckpointError);
    expect(() => a.setState({ ...a.getState(), position: 99 })).toThrow(/invalid cursor/);
  });

  it('dropLast gives full batches only; epochBatches yields one epoch', () => {
    const ds = indexed(7, { batchSize: 3, seed: 0, dropLast: true });
    expect(ds.batchesPerEpoch).toBe(2);
    const sizes: number[] = [];
    for (const b of ds.epochBatches()) {
      sizes.push(b.indices.length);
      disposePairDatasetBatch(b);
    }
    expect(sizes).toEqual([3, 3]);
    const b = ds.nextBatch();
    expect([b.epoch, b.step, b.indices.length]).toEqual([1, 0, 3]);
    disposePairDatasetBatch(b);
  });

  it('carries segment labels [B, S] and DCPO captions', async () => {
    const ds = indexed(2, { batchSize: 2, seed: 0, shuffle: false }, [
      [1, -1, 0],
      [-1, -1, 1],
    ]);
    const b = ds.nextBatch();
    expect(b.segmentLabels!.shape).toEqual([2, 3]);
    expect(await b.segmentLabels!.array()).toEqual([
      [1, -1, 0],
      [-1, -1, 1],
    ]);
    disposePairDatasetBatch(b);
    const one = indexed(1, { batchSize: 1, seed: 0 });
    const b1 = one.nextBatch();
    expect(b1.captionChosen).toEqual(['c0']);
    expect(b1.captionRejected).toEqual(['p0']);
    disposePairDatasetBatch(b1);
    expect(() =>
      indexed(2, { batchSize: 1, seed: 0 }, [[1], [1, 0]]),
    ).toThrow(ShapeError);
  });

  it('holds no tensors: a batch is 3 tensors (4 with segments) and disposes cleanly', () => {
    const ds = indexed(6, { batchSize: 4, seed: 1 });
    expectNoLeakedTensors(() => disposePairDatasetBatch(ds.nextBatch()));
    disposePairDatasetBatch(expectNoLeakedTensors(() => ds.nextBatch(), 3));
    const seg = indexed(2, { batchSize: 2, seed: 1 }, [[1], [0]]);
    disposePairDatasetBatch(expectNoLeakedTensors(() => seg.nextBatch(), 4));
    expectNoLeakedTensors(() => indexed(3, { batchSize: 2, seed: 0 }));
  });

  it('is a PairBatchSource for the trainer: next(B) gives a TrainBatch', () => {
    const ds = indexed(4, { batchSize: 2, seed: 0 });
    const source: PairBatchSource = ds; // compile-time contract check
    const b: TrainBatch = ds.next(2);
    expect(b.chosen.shape).toEqual([2, 2, 2, 1]);
    tf.dispose([b.chosen, b.rejected, b.preference as tf.Tensor]);
    expect(() => source.next(3)).toThrow(/batchSize 2/);
  });

  it('validates options', () => {
    expect(() => indexed(3, { batchSize: 0, seed: 1 })).toThrow(ConfigError);
    expect(() => indexed(3, { batchSize: 4, seed: 1, dropLast: true })).toThrow(/no batch/);
    expect(() => new PairDataset([], [1], { batchSize: 1, seed: 0 })).toThrow(/no pairs/);
  });
});

describe('PairDataset.fromManifest', () => {
  const records: PreferencePair[] = [
    { prompt: 'quad', chosen: join(FIX, 'quad.png'), rejected: join(FIX, 'quad.webp'), label: 1 },
    { prompt: 'gray', chosen: join(FIX, 'gray.png'), rejected: join(FIX, 'quad.gif'), label: 0.5, captionChosen: 'x', captionRejected: 'y' },
  ];
  it('decodes and encodes images with the identity encoder', async () => {
    const ds = await PairDataset.fromManifest(records, { size: 4 }, { batchSize: 2, seed: 0, shuffle: false });
    expect(ds.shape).toEqual([4, 4, 3]);
    const b = ds.nextBatch();
    const c = (await b.chosen.array()) as number[][][][];
    // quad.png centre-cropped to 4×4: top-left pixel is crimson (220, 20, 60) up to resampling.
    expect(c[0][0][0][0]).toBeCloseTo(220 / 127.5 - 1, 1);
    expect(Array.from(await b.preference.data())).toEqual([1, 0.5]);
    expect(b.captionRejected).toEqual(['quad', 'y']);
    disposePairDatasetBatch(b);
  });

  it('uses the encoder it is given (2×2 average pooling → [2, 2, 3])', async () => {
    const pool: Encoder = {
      id: 'avgpool2',
      encode: (x) => tf.avgPool(x, 2, 2, 'valid'),
      decode: (z) => tf.image.resizeNearestNeighbor(z, [z.shape[1] * 2, z.shape[2] * 2]),
    };
    const ds = await PairDataset.fromManifest(records, { size: 4, encoder: pool, encodeBatch: 3 }, { batchSize: 2, seed: 0 });
    expect(ds.shape).toEqual([2, 2, 3]);
    const direct = await PairDataset.fromManifest(records, { size: 4, encoder: identityEncoder }, { batchSize: 2, seed: 0 });
    // pooled value = mean of the identity pixels of that 2×2 block
    const px = direct.example(1).rejected; // [4, 4, 3] flat
    const mean = (px[0] + px[3] + px[12] + px[15]) / 4;
    expect(ds.example(1).rejected[0]).toBeCloseTo(mean, 5);
  });
});

describe('identityEncoder', () => {
  it('returns a new tensor equal to its input', async () => {
    const x = tf.randomUniform([1, 2, 2, 3]) as tf.Tensor4D;
    const z = expectNoLeakedTensors(() => identityEncoder.encode(x), 1);
    expect(z).not.toBe(x);
    expect(await z.data()).toEqual(await x.data());
    const y = identityEncoder.decode(z);
    expect(await y.data()).toEqual(await x.data());
    tf.dispose([x, y, z]);
    expect(() => identityEncoder.encode(tf.zeros([2, 2]) as unknown as tf.Tensor4D)).toThrow(ShapeError);
  });
});
