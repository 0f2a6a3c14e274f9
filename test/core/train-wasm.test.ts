/**
 * A small conv net (strided conv, explicit padding, depthwise conv, an embedding lookup)
 * trains on the wasm backend with prefkit's gradient kernels, and its gradients match the
 * cpu backend's.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng } from '../../src/core/random.js';
import { relErr } from '../helpers/numeric.js';

type Params = Record<string, tf.Variable>;

function initParams(seed: number): Record<string, { v: Float32Array; shape: number[] }> {
  const rng = createRng(seed);
  const u = (shape: number[], fanIn: number) => {
    const b = 1 / Math.sqrt(fanIn);
    return { v: rng.uniformArray(shape.reduce((a, c) => a * c, 1), -b, b), shape };
  };
  return {
    c1: u([3, 3, 3, 8], 27),
    b1: u([8], 27),
    c2: u([3, 3, 8, 8], 72),
    dw: u([3, 3, 8, 2], 9),
    emb: u([5, 16], 1),
    out: u([16, 1], 16),
  };
}

function model(P: Params, x: tf.Tensor4D, label: tf.Tensor1D): tf.Tensor {
  let h = tf.fused.conv2d({ x, filter: P.c1 as tf.Tensor4D, strides: 1, pad: 'same', bias: P.b1, activation: 'relu' }); // [B, 8, 8, 8]
  h = tf.conv2d(h, P.c2 as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]); // [B, 4, 4, 8]
  h = tf.depthwiseConv2d(tf.relu(h), P.dw as tf.Tensor4D, 1, 'valid'); // [B, 2, 2, 16]
  const pooled = tf.mean(h, [1, 2]); // [B, 16]
  const e = tf.gather(P.emb, label); // [B, 16]
  return tf.matMul(tf.add(pooled, e), P.out).reshape([-1]); // [B]
}

function data(seed: number, B: number) {
  const rng = createRng(seed);
  const x = rng.normalArray(B * 8 * 8 * 3);
  const label = Int32Array.from({ length: B }, () => rng.int(0, 5));
  const y = Float32Array.from(label, (l) => (l - 2) / 2);
  return { x, label, y };
}

function makeVars(init: ReturnType<typeof initParams>): Params {
  const P: Params = {};
  for (const [k, { v, shape }] of Object.entries(init)) P[k] = tf.variable(tf.tensor(v, shape), true, `p_${k}_${Math.random()}`);
  return P;
}

function lossFn(P: Params, d: ReturnType<typeof data>, B: number) {
  return () =>
    tf.tidy(() => {
      const pred = model(P, tf.tensor4d(d.x, [B, 8, 8, 3]), tf.tensor1d(d.label, 'int32'));
      return tf.mean(tf.square(tf.sub(pred, tf.tensor1d(d.y)))) as tf.Scalar;
    });
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

describe('conv net on wasm', () => {
  it('gradients match the cpu backend to 1e-4 (relative L2 per parameter)', async () => {
    const init = initParams(1);
    const B = 4;
    const d = data(2, B);
    const res: Record<string, Record<string, Float32Array>> = {};
    const losses: Record<string, number> = {};
    for (const be of ['cpu', 'wasm'] as const) {
      await tf.setBackend(be);
      const P = makeVars(init);
      const { value, grads } = tf.variableGrads(lossFn(P, d, B), Object.values(P));
      losses[be] = value.dataSync()[0];
      res[be] = {};
      for (const [k, p] of Object.entries(P)) res[be][k] = grads[p.name].dataSync() as Float32Array;
      tf.dispose([value, ...Object.values(grads), ...Object.values(P)]);
    }
    expect(Math.abs(losses.wasm - losses.cpu) / losses.cpu).toBeLessThan(1e-5);
    for (const k of Object.keys(init)) {
      const a = res.wasm[k];
      const b = res.cpu[k];
      expect(Array.from(b).some((x) => x !== 0), `gradient of ${k} is not all zero`).toBe(true);
      expect(relErr(a, b), `gradient of ${k}`).toBeLessThan(1e-4);
    }
  });

  it('trains: loss falls over 20 Adam steps, tensor count flat', async () => {
    await tf.setBackend('wasm');
    const B = 8;
    const d = data(3, B);
    const P = makeVars(initParams(4));
    const opt = tf.train.adam(0.01);
    const losses: number[] = [];
    const counts: number[] = [];
    for (let step = 0; step < 20; step++) {
      const loss = opt.minimize(lossFn(P, d, B), true, Object.values(P)) as tf.Scalar;
      losses.push(loss.dataSync()[0]);
      loss.dispose();
      counts.push(tf.memory().numTensors);
    }
    expect(losses[19]).toBeLessThan(0.5 * losses[0]);
    expect(new Set(counts.slice(1)).size, `numTensors per step: ${counts.join(',')}`).toBe(1);
    opt.dispose();
    tf.dispose(Object.values(P));
  });
});
