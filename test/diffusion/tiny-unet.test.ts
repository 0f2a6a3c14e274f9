import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import golden from '../golden/diffusion-tinyunet.json' with { type: 'json' };
import { ConfigError, ShapeError } from '../../src/errors.js';
import { fromTorchLayout, loadDenoiser, TinyUNet, TinyVideoUNet, toTorchLayout, type ParamSpec } from '../../src/diffusion/index.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { expectClose, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/** The golden script's deterministic weights, in PyTorch layout. */
function goldenTorchWeights(specs: readonly ParamSpec[]): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  specs.forEach((s, p) => {
    const n = s.shape.reduce((a, b) => a * b, 1);
    const v = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      if (s.init.kind === 'ones') v[j] = 1 + 0.1 * Math.sin(0.37 * j + p);
      else if (s.init.kind === 'zeros') v[j] = 0.1 * Math.cos(0.53 * j + p);
      else v[j] = Math.sin(0.7 * j + 1.3 * p + 0.1) / Math.sqrt(s.init.fanIn);
    }
    const torchShape = s.shape.length === 4 ? [s.shape[3], s.shape[2], s.shape[0], s.shape[1]] : [...s.shape].reverse();
    out[s.name] = tf.tensor(v, torchShape);
  });
  return out;
}

describe('TinyUNet (reference spec)', () => {
  it('has 416,676 parameters named and ordered as the PyTorch state_dict', () => {
    const m = new TinyUNet();
    expect(m.parameterCount).toBe(416676);
    expect(m.parameterSpecs.map((s) => s.name)).toEqual(golden.names);
    m.dispose();
  });

  it('matches the PyTorch peer: prediction and every parameter gradient (wasm)', () => {
    const ref = new TinyUNet();
    const torchW = goldenTorchWeights(ref.parameterSpecs);
    const values = fromTorchLayout(torchW);
    const m = new TinyUNet({}, { values });
    tf.dispose([ref, ...Object.values(torchW), ...Object.values(values)] as unknown as tf.Tensor[]);
    ref.dispose();
    const x = tf.tensor(golden.x_nhwc, [2, 16, 16, 4]);
    const t = tf.tensor1d(golden.t);
    const pooled = tf.tensor(golden.cond, [2, 32]);
    const r = tf.tensor(golden.r_nhwc, [2, 16, 16, 4]);
    const pred = m.predict(x, t, { pooled });
    const pd = pred.dataSync();
    const scale = Math.max(...golden.pred_nhwc.map(Math.abs));
    expectClose(pd, golden.pred_nhwc, 1e-4, 1e-5 * scale, 'prediction');
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.mul(m.predict(x, t, { pooled }), r)) as tf.Scalar, m.trainableVariables);
    expect(value.dataSync()[0]).toBeCloseTo(golden.loss, 3);
    const named = m.namedVariables();
    const byName: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(named)) byName[k] = grads[v.name];
    const torchGrads = toTorchLayout(byName);
    for (const [name, g] of Object.entries(golden.grads)) {
      const d = Array.from(torchGrads[name].dataSync());
      const norm = Math.sqrt(d.reduce((a, b) => a + b * b, 0));
      expect(Math.abs(norm - g.norm) / g.norm, `${name} grad norm`).toBeLessThan(1e-4);
      expectClose(Array.from(d.slice(0, 6)), g.first, 1e-3, 1e-4 * g.norm, `${name} grad`);
      expect(torchGrads[name].shape).toEqual(g.shape);
    }
    tf.dispose([x, t, pooled, r, pred, value, ...Object.values(grads), ...Object.values(torchGrads)]);
    m.dispose();
  });

  it('initialises deterministically from the seed with PyTorch default bounds', () => {
    const a = new TinyUNet({ seed: 5 });
    const b = new TinyUNet({ seed: 5 });
    const c = new TinyUNet({ seed: 6 });
    const wa = a.namedVariables()['down1.conv1.weight'].dataSync();
    expect(Array.from(wa)).toEqual(Array.from(b.namedVariables()['down1.conv1.weight'].dataSync()));
    expect(Array.from(wa)).not.toEqual(Array.from(c.namedVariables()['down1.conv1.weight'].dataSync()));
    const bound = 1 / Math.sqrt(32 * 9);
    expect(Math.max(...wa.map(Math.abs))).toBeLessThanOrEqual(bound);
    expect(Math.max(...wa.map(Math.abs))).toBeGreaterThan(0.95 * bound);
    expect(Array.from(a.namedVariables()['mid.norm1.weight'].dataSync())).toEqual(new Array(64).fill(1));
    expect(Array.from(a.namedVariables()['mid.norm1.bias'].dataSync())).toEqual(new Array(64).fill(0));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('validates its config and inputs', () => {
    expect(() => new TinyUNet({ channels: [12, 24] })).toThrow(/not divisible by groups=8/);
    expect(() => new TinyUNet({ attentionLevels: [1] })).toThrow(ConfigError);
    expect(() => new TinyUNet({ attentionLevels: [3], tokenDim: 8 })).toThrow(/level 3 does not exist/);
    const m = new TinyUNet({ channels: [8, 16], pooledDim: 4, embedDim: 16 });
    expect(() => m.predict(tf.zeros([1, 5, 6, 4]), tf.zeros([1]))).toThrow(ShapeError);
    expect(() => m.predict(tf.zeros([1, 8, 8, 4]), tf.zeros([2]))).toThrow(/Argument 't'/);
    expect(() => m.predict(tf.zeros([1, 8, 8, 4]), tf.zeros([1]), { pooled: tf.zeros([1, 3]) })).toThrow(/cond.pooled/);
    m.dispose();
  });
});

describe('TinyUNet configurations', () => {
  it('runs three levels, two blocks per level, cross-attention with a token mask', () => {
    const m = new TinyUNet({ inChannels: 3, channels: [8, 16, 16], blocksPerLevel: 2, midBlocks: 2, pooledDim: 0, tokenDim: 6, attentionLevels: [1, 2], midAttention: true, heads: 2, embedDim: 32 });
    const names = m.parameterSpecs.map((s) => s.name);
    expect(names).toContain('down1_1_attn.to_q.weight');
    expect(names).toContain('downsample2.weight');
    expect(names.some((n) => n.startsWith('upsample_conv1.'))).toBe(true);
    expect(names).not.toContain('cond_proj.weight');
    const x = tf.randomNormal([2, 8, 8, 3], 0, 1, 'float32', 1);
    const t = tf.tensor1d([10, 900]);
    const tokens = tf.randomNormal([2, 5, 6], 0, 1, 'float32', 2);
    const mask = tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]);
    const y1 = m.predict(x, t, { tokens, tokenMask: mask });
    expect(y1.shape).toEqual([2, 8, 8, 3]);
    // changing masked-out tokens of sample 0 leaves its output unchanged; sample 1 changes
    const tokens2 = tf.tidy(() => tf.add(tokens, tf.mul(tf.tensor3d([[[0], [0], [0], [1], [1]], [[1], [1], [1], [1], [1]]]), 3)));
    const y2 = m.predict(x, t, { tokens: tokens2, tokenMask: mask });
    const [a0, a1] = tf.split(y1, 2);
    const [b0, b1] = tf.split(y2, 2);
    expectClose(b0.dataSync(), a0.dataSync(), 1e-5, 1e-5, 'masked tokens');
    expect(tf.max(tf.abs(tf.sub(a1, b1))).dataSync()[0]).toBeGreaterThan(1e-4);
    expect(() => m.predict(x, t)).toThrow(/cond.tokens/);
    tf.dispose([x, t, tokens, mask, y1, tokens2, y2, a0, a1, b0, b1]);
    m.dispose();
  });
});

describe('save / loadDenoiser / cloneFrozen', () => {
  it('round-trip exactly and share nothing', async () => {
    const m = new TinyUNet({ channels: [8, 16], pooledDim: 4, embedDim: 16, tokenDim: 4, attentionLevels: [1], seed: 'rt' });
    const x = tf.randomNormal([2, 8, 8, 4], 0, 1, 'float32', 3);
    const t = tf.tensor1d([1, 500]);
    const cond = { pooled: tf.randomNormal([2, 4], 0, 1, 'float32', 4), tokens: tf.randomNormal([2, 3, 4], 0, 1, 'float32', 5) };
    const y = m.predict(x, t, cond).dataSync();
    const dir = mkdtempSync(join(tmpdir(), 'prefkit-unet-'));
    await m.save(dir);
    const loaded = await loadDenoiser(dir);
    expect(loaded).toBeInstanceOf(TinyUNet);
    expect(loaded.config).toEqual(m.config);
    expect(Array.from(loaded.predict(x, t, cond).dataSync())).toEqual(Array.from(y));
    expect(loaded.trainableVariables.length).toBe(m.trainableVariables.length);
    const frozenLoaded = await loadDenoiser(dir, { trainable: false });
    expect(frozenLoaded.trainableVariables).toEqual([]);

    const frozen = m.cloneFrozen();
    expect(frozen.trainableVariables).toEqual([]);
    expect(Array.from(frozen.predict(x, t, cond).dataSync())).toEqual(Array.from(y));
    const fv = new Set(Object.values(frozen.namedVariables()).map((v) => v.id));
    expect(Object.values(m.namedVariables()).some((v) => fv.has(v.id))).toBe(false);
    // updating the policy leaves the frozen copy unchanged
    const w = m.namedVariables()['conv_in.weight'];
    w.assign(tf.tidy(() => tf.add(w, 1)));
    expect(Array.from(frozen.predict(x, t, cond).dataSync())).toEqual(Array.from(y));
    expect(Array.from(m.predict(x, t, cond).dataSync())).not.toEqual(Array.from(y));
    // only trainable variables get gradients
    const { grads, value } = tf.variableGrads(() => tf.sum(frozen.predict(x, t, cond)).add(tf.sum(m.predict(x, t, cond))) as tf.Scalar);
    expect(Object.keys(grads).length).toBe(m.trainableVariables.length);
    tf.dispose([value, ...Object.values(grads)]);
    for (const d of [loaded, frozenLoaded, frozen, m]) d.dispose();
    tf.dispose([x, t, cond.pooled, cond.tokens]);
  });

  it('reports unknown kinds and mismatched weights as CheckpointErrors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'prefkit-unet-bad-'));
    const small = new TinyUNet({ channels: [8, 16], embedDim: 16, pooledDim: 4 });
    await small.save(dir);
    const { writeFileSync, readFileSync } = await import('node:fs');
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, pooledDim: 8 }));
    await expect(loadDenoiser(dir)).rejects.toThrow(/Weight 'cond_proj.weight' has shape \[4, 16\], the model expects \[8, 16\]/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...cfg, kind: 'Nope' }));
    await expect(loadDenoiser(dir)).rejects.toThrow(/Unknown denoiser kind "Nope".*TinyUNet/);
    await expect(loadDenoiser(join(dir, 'missing'))).rejects.toThrow(/Cannot read denoiser config/);
    small.dispose();
  });
});

describe('memory', () => {
  it('predict and its gradient leak no tensors', () => {
    const m = new TinyUNet({ channels: [8, 16], pooledDim: 4, embedDim: 16 });
    const x = tf.randomNormal([2, 8, 8, 4]);
    const t = tf.tensor1d([1, 2]);
    const p = tf.zeros([2, 4]);
    expectNoLeakedTensors(() => m.predict(x, t, { pooled: p }).dispose());
    expectNoLeakedTensors(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(m.predict(x, t, { pooled: p }))) as tf.Scalar, m.trainableVariables);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, t, p]);
    m.dispose();
  });
});

describe('TinyVideoUNet', () => {
  it('equals the per-frame image model at init, mixes frames once the temporal convs are non-zero', () => {
    const cfg = { inChannels: 3, channels: [8, 16], pooledDim: 4, embedDim: 16, seed: 9 };
    const img = new TinyUNet(cfg);
    const vid = new TinyVideoUNet(cfg);
    expect(vid.parameterSpecs.filter((s) => s.name.includes('.temporal.')).length).toBe(4 * 5);
    const B = 2;
    const T = 3;
    const x = tf.randomNormal([B, T, 8, 8, 3], 0, 1, 'float32', 11);
    const t = tf.tensor1d([5, 700]);
    const pooled = tf.randomNormal([B, 4], 0, 1, 'float32', 12);
    const yv = vid.predict(x, t, { pooled });
    expect(yv.shape).toEqual([B, T, 8, 8, 3]);
    const yi = img.predict(tf.reshape(x, [B * T, 8, 8, 3]), tf.tensor1d([5, 5, 5, 700, 700, 700]), { pooled: tf.gather(pooled, [0, 0, 0, 1, 1, 1]) });
    expectClose(yv.dataSync(), yi.dataSync(), 1e-5, 1e-5, 'video = per-frame image at init');
    // make temporal mixing active; perturbing frame 2 then changes frame 0's output
    for (const [name, v] of Object.entries(vid.namedVariables())) if (name.includes('.temporal.conv.weight')) v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', 3));
    const y1 = vid.predict(x, t, { pooled });
    const x2 = tf.tidy(() => tf.add(x, tf.mul(tf.oneHot(tf.tensor1d([2], 'int32'), T).reshape([1, T, 1, 1, 1]), 1)));
    const y2 = vid.predict(x2, t, { pooled });
    const d0 = tf.tidy(() => tf.max(tf.abs(tf.sub(tf.slice(y1, [0, 0], [B, 1]), tf.slice(y2, [0, 0], [B, 1])))).dataSync()[0]);
    expect(d0).toBeGreaterThan(1e-4);
    expect(() => vid.predict(tf.zeros([1, 8, 8, 3]), tf.zeros([1]))).toThrow(/expected \[B, T, H, W, C\]/);
    expectNoLeakedTensors(() => {
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(vid.predict(x, t, { pooled }))) as tf.Scalar, vid.trainableVariables);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, t, pooled, yv, yi, y1, x2, y2]);
    img.dispose();
    vid.dispose();
  });

  it('saves and loads through loadDenoiser', async () => {
    const vid = new TinyVideoUNet({ inChannels: 3, channels: [8, 16], pooledDim: 0, embedDim: 16, temporalKernel: 5 });
    const dir = mkdtempSync(join(tmpdir(), 'prefkit-vid-'));
    await vid.save(dir);
    const back = await loadDenoiser(dir);
    expect(back).toBeInstanceOf(TinyVideoUNet);
    const x = tf.randomNormal([1, 4, 8, 8, 3]);
    const t = tf.tensor1d([3]);
    expect(Array.from(back.predict(x, t).dataSync())).toEqual(Array.from(vid.predict(x, t).dataSync()));
    back.dispose();
    vid.dispose();
  });
});
