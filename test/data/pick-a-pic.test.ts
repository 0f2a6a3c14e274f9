import { describe, it, expect, beforeAll } from 'vitest';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { readPickAPicParquet, fromPickAPic } from '../../src/data/pick-a-pic.js';
import { loadImage } from '../../src/image/load.js';
import { ConfigError } from '../../src/errors.js';

const shard = join(import.meta.dirname, '..', 'fixtures', 'images', 'pickapic-tiny.parquet');

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

/** Mean RGB of an image in bytes. */
async function meanRgb(src: Uint8Array): Promise<number[]> {
  const t = await loadImage(src);
  const m = tf.tidy(() => t.mean([0, 1]).add(1).mul(127.5));
  const v = Array.from(await m.data());
  tf.dispose([t, m]);
  return v;
}

describe('readPickAPicParquet', () => {
  it('maps rows to pairs: the higher label wins, ties are 0.5, unlabelled and identical rows are reported', async () => {
    const m = await readPickAPicParquet(shard);
    expect(m.records.map((r) => [r.prompt, r.label, r.id])).toEqual([
      ['a red square', 1, '1000'],
      ['a blue square', 1, '1001'],
      ['a square', 0.5, '1002'],
      ['a green square', 1, '1005'],
    ]);
    expect(m.skipped.map((s) => [s.line, s.field])).toEqual([
      [3, 'has_label'],
      [4, 'are_different'],
    ]);
    // The JPEG bytes decode, and label_0 = 0 puts image 1 (blue) first.
    const [c0, c1] = [await meanRgb(m.records[0].chosen as Uint8Array), await meanRgb(m.records[1].chosen as Uint8Array)];
    expect(c0[0]).toBeGreaterThan(240); // red
    expect(c1[2]).toBeGreaterThan(240); // blue
    expect(c1[0]).toBeLessThan(15);
    // DCPO captions travel with their images: image 1 won, so captionChosen = caption_1.
    expect(m.records[3]).toMatchObject({ captionChosen: 'a green tile', captionRejected: 'a red tile' });
    expect(m.records[3].origin).toBe(`${shard}#row 5`);
  });

  it('drops ties on request and reads row ranges', async () => {
    const m = await readPickAPicParquet(shard, { ties: 'drop', rowStart: 1, rowEnd: 3 });
    expect(m.records.map((r) => r.prompt)).toEqual(['a blue square']);
    expect(m.skipped).toEqual([{ line: 2, field: 'label_0', message: 'tie (label_0 = 0.5) dropped (ties: drop)' }]);
  });

  it('a file that is not parquet is a ConfigError naming it', async () => {
    await expect(readPickAPicParquet(join(import.meta.dirname, '..', 'fixtures', 'images', 'quad.png'))).rejects.toThrow(ConfigError);
  });
});

describe('fromPickAPic', () => {
  const img = new Uint8Array([1, 2, 3]);
  const img2 = new Uint8Array([4, 5]);
  it('accepts datasets Image structs and byte captions, and rejects inconsistent labels', () => {
    const m = fromPickAPic([
      { caption: new TextEncoder().encode('bytes caption'), jpg_0: { bytes: img, path: null }, jpg_1: img2, label_0: 0, label_1: 1 },
      { caption: 'bad', jpg_0: img, jpg_1: img2, label_0: 0.3, label_1: 0.3 },
      { caption: 'no bytes', jpg_0: new Uint8Array(0), jpg_1: img2, label_0: 1 },
    ]);
    expect(m.records).toHaveLength(1);
    expect(m.records[0]).toMatchObject({ prompt: 'bytes caption', chosen: img2, rejected: img, label: 1 });
    expect(m.skipped.map((s) => s.field)).toEqual(['label_0', 'jpg_0']);
  });
});
