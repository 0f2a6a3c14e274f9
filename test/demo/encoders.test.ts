import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng } from '../../src/core/random.js';
import { PatchAutoencoder } from '../../src/demo/autoencoder.js';
import { batchRewards } from '../../src/demo/judge.js';
import { DEMO_VOCAB, TinyTextEncoder } from '../../src/demo/text-encoder.js';
import { worldBatch } from '../../src/demo/world.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';

const dir = mkdtempSync(path.join(tmpdir(), 'prefkit-demo-enc-'));
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('TinyTextEncoder', () => {
  it('pools the mean of the token rows (hand-derived), unknown words → <unk>', () => {
    const V = DEMO_VOCAB.length;
    const table = tf.tensor2d(Array.from({ length: V * 2 }, (_, i) => i), [V, 2]); // row r = [2r, 2r+1]
    const enc = new TinyTextEncoder(table);
    const a = DEMO_VOCAB.indexOf('a');
    const red = DEMO_VOCAB.indexOf('red');
    const circle = DEMO_VOCAB.indexOf('circle');
    expect(enc.tokenize('a Red circle')).toEqual([a, red, circle]);
    expect(enc.tokenize('a pink circle')).toEqual([a, 0, circle]);
    const { pooled } = expectNoLeakedTensors(() => enc.encode(['a red circle', 'circle']), 1);
    const want0 = [(2 * a + 2 * red + 2 * circle) / 3, (2 * a + 1 + 2 * red + 1 + 2 * circle + 1) / 3];
    const got = pooled!.arraySync() as number[][];
    expect(got[0][0]).toBeCloseTo(want0[0], 5);
    expect(got[0][1]).toBeCloseTo(want0[1], 5);
    expect(got[1]).toEqual([2 * circle, 2 * circle + 1]);
    pooled!.dispose();
    expect(() => enc.encode([])).toThrow(/no prompts/);
    enc.dispose();
  });

  it('saves and loads the same table', async () => {
    const enc = TinyTextEncoder.random(7, 8);
    await enc.save(path.join(dir, 'te.safetensors'));
    const back = await TinyTextEncoder.load(path.join(dir, 'te.safetensors'));
    expect(back.vocab).toEqual(DEMO_VOCAB);
    expect(Array.from(back.table.dataSync())).toEqual(Array.from(enc.table.dataSync()));
    enc.dispose();
    back.dispose();
  });
});

describe('PatchAutoencoder', () => {
  it('with all p·p·3 components reconstructs exactly; components are orthonormal', () => {
    const { images } = worldBatch(createRng(1), 64);
    const ae = PatchAutoencoder.fit(images, 2, 12);
    const gram = tf.matMul(ae.components, ae.components, true, false);
    const g = gram.arraySync() as number[][];
    g.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(i === j ? 1 : 0, 3)));
    const z = ae.encode(images);
    expect(z.shape).toEqual([64, 8, 8, 12]);
    const rec = ae.decode(z);
    expect(tf.max(tf.abs(tf.sub(rec, images))).dataSync()[0]).toBeLessThan(1e-3);
    tf.dispose([images, gram, z, rec]);
    ae.dispose();
  });

  it('4 channels keep the colour and shape the judge reads, latents have unit scale, no leaks', async () => {
    const fit = worldBatch(createRng(2), 256).images;
    const ae = PatchAutoencoder.fit(fit, 2, 4);
    fit.dispose();
    const { images, captions } = worldBatch(createRng(3), 100);
    const z = expectNoLeakedTensors(() => ae.encode(images), 1);
    const { variance } = tf.moments(z, [0, 1, 2]);
    for (const v of variance.dataSync()) expect(Math.sqrt(v)).toBeGreaterThan(0.7), expect(Math.sqrt(v)).toBeLessThan(1.3);
    const rec = expectNoLeakedTensors(() => ae.decode(z), 1);
    const r = batchRewards(rec, captions);
    expect(r.filter((x) => x.colourCorrect).length).toBeGreaterThanOrEqual(98);
    expect(r.filter((x) => x.shapeCorrect).length).toBeGreaterThanOrEqual(85);
    await ae.save(path.join(dir, 'ae.safetensors'));
    const back = await PatchAutoencoder.load(path.join(dir, 'ae.safetensors'));
    expect(back.id).toBe(ae.id);
    const z2 = back.encode(images);
    expect(tf.max(tf.abs(tf.sub(z2, z))).dataSync()[0]).toBeLessThan(1e-6);
    expect(() => ae.decode(tf.zeros([1, 8, 8, 3]) as tf.Tensor4D)).toThrow();
    tf.dispose([images, z, z2, variance, rec]);
    ae.dispose();
    back.dispose();
  });
});
