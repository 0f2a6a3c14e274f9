import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMediaError, isShapeError } from '../../src/errors.js';
import { encodeMedia, sampleFrameIndices } from '../../src/vlm/media.js';
import { solidPng } from './helpers/media.js';

let dir: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-media-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const decode = async (url: string) => {
  const buf = Buffer.from(url.split(',')[1]!, 'base64');
  const { data, info } = await sharp(buf).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height, format: (await sharp(buf).metadata()).format };
};

/** Frames [T, H, W, 3] where frame t has value -1 + 2t/(T-1) (dark to bright). */
const ramp = (T: number, H = 8, W = 12) => tf.tidy(() => tf.linspace(-1, 1, T).reshape([T, 1, 1, 1]).tile([1, H, W, 3]));

describe('sampleFrameIndices', () => {
  it('spreads evenly and includes both ends', () => {
    expect(sampleFrameIndices(10, 4)).toEqual([0, 3, 6, 9]);
    expect(sampleFrameIndices(3, 8)).toEqual([0, 1, 2]);
    expect(sampleFrameIndices(5, 1)).toEqual([2]);
  });
});

describe('encodeMedia', () => {
  it('maps a [-1, 1] image tensor to RGB and resizes to maxSide', async () => {
    const t = tf.tidy(() => tf.stack([tf.fill([20, 40], 1), tf.fill([20, 40], -1), tf.fill([20, 40], 0)], 2)); // [20, 40, 3]
    const e = await encodeMedia({ kind: 'image', tensor: t }, { maxSide: 10 });
    const img = await decode(e.dataUrls[0]!);
    expect(img.format).toBe('jpeg');
    expect([img.width, img.height]).toEqual([10, 5]);
    expect(Math.abs(img.data[0]! - 255)).toBeLessThan(6);
    expect(img.data[1]!).toBeLessThan(6);
    expect(Math.abs(img.data[2]! - 128)).toBeLessThan(6);
    t.dispose();
  });
  it('does not enlarge small images', async () => {
    const e = await encodeMedia({ kind: 'image', bytes: await solidPng(1, 2, 3, 6, 4) }, { maxSide: 512 });
    const img = await decode(e.dataUrls[0]!);
    expect([img.width, img.height]).toEqual([6, 4]);
  });
  it('tiles sampled frames into a grid or a strip, in time order', async () => {
    const v = ramp(9); // [9, 8, 12, 3]
    const grid = await encodeMedia({ kind: 'frames', tensor: v }, { framesPerSegment: 4, frameLayout: 'grid', maxSide: 512 });
    expect(grid.frameIndices).toEqual([0, 3, 5, 8]);
    const g = await decode(grid.dataUrls[0]!);
    expect([g.width, g.height]).toEqual([24, 16]);
    const at = (x: number, y: number) => g.data[(y * g.width + x) * 3]!;
    // Tiles: (0,0) frame 0 darkest, (1,0) frame 3, (0,1) frame 5, (1,1) frame 8 brightest.
    const tiles = [at(6, 4), at(18, 4), at(6, 12), at(18, 12)];
    expect(tiles[0]!).toBeLessThan(10);
    expect(tiles[3]!).toBeGreaterThan(245);
    expect(tiles[0]!).toBeLessThan(tiles[1]!);
    expect(tiles[1]!).toBeLessThan(tiles[2]!);
    expect(tiles[2]!).toBeLessThan(tiles[3]!);
    const strip = await decode((await encodeMedia({ kind: 'frames', tensor: v }, { framesPerSegment: 3, frameLayout: 'strip' })).dataUrls[0]!);
    expect([strip.width, strip.height]).toEqual([36, 8]);
    const sep = await encodeMedia({ kind: 'frames', tensor: v }, { framesPerSegment: 3, frameLayout: 'separate' });
    expect(sep.dataUrls).toHaveLength(3);
    v.dispose();
  });
  it('reads frames from image files', async () => {
    const paths: string[] = [];
    for (let i = 0; i < 5; i++) {
      const p = join(dir, `f${i}.png`);
      await writeFile(p, await solidPng(60 * i, 0, 0, 10, 6));
      paths.push(p);
    }
    const e = await encodeMedia({ kind: 'frames', paths }, { framesPerSegment: 2, frameLayout: 'strip' });
    expect(e.frameIndices).toEqual([0, 4]);
    const img = await decode(e.dataUrls[0]!);
    expect([img.width, img.height]).toEqual([20, 6]);
    expect(img.data[(3 * 20 + 15) * 3]!).toBeGreaterThan(220);
  });
  it('hashes content and options: equal input equal hash, any change a new hash', async () => {
    const a = await solidPng(10, 20, 30);
    const h1 = (await encodeMedia({ kind: 'image', bytes: a })).hash;
    expect((await encodeMedia({ kind: 'image', bytes: new Uint8Array(a) })).hash).toBe(h1);
    expect((await encodeMedia({ kind: 'image', bytes: await solidPng(10, 20, 31) })).hash).not.toBe(h1);
    expect((await encodeMedia({ kind: 'image', bytes: a }, { maxSide: 64 })).hash).not.toBe(h1);
  });
  it('reports bad shapes and unreadable media', async () => {
    const bad = tf.zeros([4, 4]);
    await expect(encodeMedia({ kind: 'image', tensor: bad })).rejects.toSatisfy(isShapeError);
    bad.dispose();
    await expect(encodeMedia({ kind: 'image', path: join(dir, 'missing.png') })).rejects.toSatisfy(isMediaError);
    await expect(encodeMedia({ kind: 'image', bytes: new Uint8Array([1, 2, 3]) })).rejects.toThrow(/Cannot decode image/);
    await expect(encodeMedia({ kind: 'frames' })).rejects.toThrow(/no tensor and no paths/);
  });
  it('creates no tensors', async () => {
    const v = ramp(4);
    const before = tf.memory().numTensors;
    await encodeMedia({ kind: 'frames', tensor: v });
    await encodeMedia({ kind: 'frames', tensor: v });
    expect(tf.memory().numTensors).toBe(before);
    v.dispose();
  });
});
