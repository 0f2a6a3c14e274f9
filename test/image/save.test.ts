import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { loadImage } from '../../src/image/load.js';
import { saveImage, imageGrid, unitToBytes, encodePng } from '../../src/image/save.js';
import { ShapeError } from '../../src/errors.js';

let dir: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = mkdtempSync(join(tmpdir(), 'prefkit-save-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A [H, W, 3] tensor whose pixel (y, x) has bytes (10y, 10x, 200). */
function ramp(h: number, w: number, blue = 200): tf.Tensor3D {
  const v = new Float32Array(h * w * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) v.set([(10 * y) / 127.5 - 1, (10 * x) / 127.5 - 1, blue / 127.5 - 1], (y * w + x) * 3);
  return tf.tensor3d(v, [h, w, 3]);
}

describe('unitToBytes', () => {
  it('maps -1 → 0, 0 → 128 (round half up of 127.5), 1 → 255 and clips', () => {
    expect(Array.from(unitToBytes([-1, 0, 1, -3, 7, NaN]))).toEqual([0, 128, 255, 0, 255, 0]);
  });
});

describe('saveImage', () => {
  it('writes a PNG that loads back to the same bytes', async () => {
    const t = ramp(5, 7);
    const p = join(dir, 'sub', 'ramp.png');
    await saveImage(t, p);
    const meta = await sharp(p).metadata();
    expect([meta.format, meta.width, meta.height]).toEqual(['png', 7, 5]);
    const back = await loadImage(p);
    const diff = tf.tidy(() => tf.abs(tf.sub(back, t)).max().dataSync()[0]);
    expect(diff).toBeLessThan(1e-5);
    tf.dispose([t, back]);
  });

  it('leaks no tensors (saveImage, encodePng, imageGrid from a 4-D batch)', async () => {
    const t = ramp(4, 4);
    const batch = tf.stack([t, t]);
    await expectNoLeakedTensors(() => saveImage(t, join(dir, 'leak.png')));
    await expectNoLeakedTensors(() => encodePng(t));
    await expectNoLeakedTensors(() => imageGrid(batch, { labels: ['a', 'b'] }));
    tf.dispose([t, batch]);
  });

  it('rejects a non-image shape with a ShapeError', async () => {
    const t = tf.zeros([2, 3]);
    await expect(saveImage(t, join(dir, 'x.png'))).rejects.toThrow(ShapeError);
    t.dispose();
  });
});

describe('imageGrid', () => {
  it('places cells at the documented offsets and sizes the grid', async () => {
    const a = ramp(4, 6, 0);
    const b = ramp(4, 6, 100);
    const c = ramp(4, 6, 250);
    const png = await imageGrid([a, b, c], { cols: 2, padding: 1, background: '#000000' });
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    // width = 2·6 + 3·1 = 15, height = 2·4 + 3·1 = 11
    expect([info.width, info.height, info.channels]).toEqual([15, 11, 3]);
    const at = (y: number, x: number) => Array.from(data.subarray((y * 15 + x) * 3, (y * 15 + x) * 3 + 3));
    expect(at(0, 0)).toEqual([0, 0, 0]); // padding
    expect(at(1, 1)).toEqual([0, 0, 0]); // a(0, 0) = (0, 0, 0)
    expect(at(1 + 3, 1 + 5)).toEqual([30, 50, 0]); // a(3, 5)
    expect(at(1, 1 + 6 + 1)).toEqual([0, 0, 100]); // b(0, 0)
    expect(at(1 + 4 + 1 + 2, 1 + 3)).toEqual([20, 30, 250]); // c(2, 3), second row
    expect(at(7, 9)).toEqual([0, 0, 0]); // empty fourth cell stays background
    tf.dispose([a, b, c]);
  });

  it('draws labels in a band under each image without changing the images', async () => {
    const imgs = tf.stack([ramp(8, 10), ramp(8, 10)]) as tf.Tensor4D;
    const before = tf.memory().numTensors;
    const p = join(dir, 'grid.png');
    const png = await imageGrid(imgs, { cols: 2, labels: ['chosen <w>', 'rejected & l'], padding: 2, labelHeight: 12, path: p });
    expect(tf.memory().numTensors).toBe(before);
    const { data, info } = await sharp(p).raw().toBuffer({ resolveWithObject: true });
    expect((await sharp(png).metadata()).format).toBe('png');
    // width = 2·10 + 3·2 = 26; height = 1·(8 + 12) + 2·2 = 24
    expect([info.width, info.height]).toEqual([26, 24]);
    const at = (y: number, x: number) => Array.from(data.subarray((y * 26 + x) * info.channels, (y * 26 + x) * info.channels + 3));
    expect(at(2 + 7, 2 + 9)).toEqual([70, 90, 200]); // image pixels untouched by the label band
    // the label band lies inside the grid and is otherwise background (white)
    expect(at(23, 0)).toEqual([255, 255, 255]);
    imgs.dispose();
  });

  it('rejects mixed shapes and wrong label counts', async () => {
    const a = ramp(4, 4);
    const b = ramp(4, 5);
    await expect(imageGrid([a, b])).rejects.toThrow(ShapeError);
    await expect(imageGrid([a, a], { labels: ['one'] })).rejects.toThrow(/1 labels for 2 images/);
    tf.dispose([a, b]);
  });
});
