/**
 * fusedGroupNorm against the autodiff of a plain reference (tf.moments + affine + x·σ(x)), values
 * and gradients, on cpu and wasm; plus a finite-difference check of the hand-written gradient.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { fusedGroupNorm } from '../../src/core/ops/group-norm.js';
import { createRng } from '../../src/core/random.js';
import { ShapeError } from '../../src/errors.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { relErr } from '../helpers/numeric.js';

const rng = createRng('gn');

function reference(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, groups: number, eps: number, silu: boolean): tf.Tensor {
  const shape = x.shape;
  const C = shape[shape.length - 1];
  const xr = tf.reshape(x, [shape[0], -1, groups, C / groups]);
  const { mean, variance } = tf.moments(xr, [1, 3], true);
  const xn = tf.reshape(tf.div(tf.sub(xr, mean), tf.sqrt(tf.add(variance, eps))), shape);
  const y = tf.add(tf.mul(xn, gamma), beta);
  return silu ? tf.mul(y, tf.sigmoid(y)) : y;
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

describe('fusedGroupNorm', () => {
  const cases = [
    { shape: [2, 4, 4, 8], groups: 4, silu: true },
    { shape: [3, 5, 6], groups: 2, silu: false },
    { shape: [1, 3, 3, 16], groups: 8, silu: true },
    { shape: [2, 2, 3, 2, 4], groups: 1, silu: true },
  ];
  for (const backend of ['cpu', 'wasm'] as const) {
    it.each(cases)(`${backend}: value and gradients match autodiff, $shape G=$groups silu=$silu`, async ({ shape, groups, silu }) => {
      await tf.setBackend(backend);
      const C = shape[shape.length - 1];
      const n = shape.reduce((a, b) => a * b, 1);
      const x = tf.tensor(rng.normalArray(n), shape).mul(2).add(0.5);
      const gamma = tf.tensor1d(rng.uniformArray(C, 0.5, 1.5));
      const beta = tf.tensor1d(rng.normalArray(C));
      const w = tf.tensor(rng.normalArray(n), shape); // a random cotangent
      const loss = (f: typeof reference) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a, g, b, groups, 1e-5, silu), w));
      const fused = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => fusedGroupNorm(a, g, b, { groups, eps: 1e-5, activation: silu ? 'silu' : 'none' });
      const yf = fused(x, gamma, beta);
      const yr = reference(x, gamma, beta, groups, 1e-5, silu);
      expect(relErr(yf.dataSync(), yr.dataSync())).toBeLessThan(1e-5);
      const gf = tf.grads(loss((a, g, b) => fused(a, g, b)))([x, gamma, beta]);
      const gr = tf.grads(loss(reference))([x, gamma, beta]);
      for (let i = 0; i < 3; i++) expect(relErr(gf[i].dataSync(), gr[i].dataSync()), ['dx', 'dgamma', 'dbeta'][i]).toBeLessThan(1e-4);
      tf.dispose([x, gamma, beta, w, yf, yr, ...gf, ...gr]);
    });
  }

  it('matches central finite differences (float32, cpu)', async () => {
    await tf.setBackend('cpu');
    const shape = [2, 3, 4];
    const x = Float32Array.from(rng.normalArray(24));
    const gamma = tf.tensor1d([1.2, 0.7, 0.9, 1.1]);
    const beta = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    const w = tf.tensor(rng.normalArray(24), shape);
    const f = (a: tf.Tensor) => tf.sum(tf.mul(fusedGroupNorm(a, gamma, beta, { groups: 2, activation: 'silu' }), w));
    const g = tf.grad(f)(tf.tensor(x, shape)).dataSync();
    const h = 1e-2;
    for (const i of [0, 5, 13, 23]) {
      const xp = x.slice();
      const xm = x.slice();
      xp[i] += h;
      xm[i] -= h;
      const fd = (f(tf.tensor(xp, shape)).dataSync()[0] - f(tf.tensor(xm, shape)).dataSync()[0]) / (2 * h);
      expect(Math.abs(fd - g[i])).toBeLessThan(2e-3 * Math.max(1, Math.abs(g[i])));
    }
    tf.dispose([gamma, beta, w]);
  });

  it('leaks nothing, with and without a gradient tape', async () => {
    await tf.setBackend('wasm');
    const x = tf.randomNormal([2, 4, 4, 8]);
    const gamma = tf.variable(tf.ones([8]));
    const beta = tf.variable(tf.zeros([8]));
    expectNoLeakedTensors(() => tf.tidy(() => void fusedGroupNorm(x, gamma, beta, { groups: 4, activation: 'silu' })));
    expectNoLeakedTensors(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(fusedGroupNorm(x, gamma, beta, { groups: 4, activation: 'silu' })) as tf.Scalar, [gamma, beta]);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, gamma, beta]);
  });

  it('rejects channels not divisible by groups and mis-shaped affine', () => {
    const x = tf.zeros([1, 2, 6]);
    expect(() => fusedGroupNorm(x, tf.ones([6]), tf.zeros([6]), { groups: 4 })).toThrow(ShapeError);
    expect(() => fusedGroupNorm(x, tf.ones([3]), tf.zeros([6]), { groups: 3 })).toThrow(/'gamma' to fusedGroupNorm has shape \[3\], expected \[6\]/);
    x.dispose();
  });
});
