import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { groupNorm, groupNormAutodiff, groupNormSilu, silu, timestepFeatures, upsample2x } from '../../src/diffusion/nn.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { expectClose, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

describe('groupNorm / groupNormSilu', () => {
  it('normalises each group of consecutive channels (hand-checked on one group)', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 2, 2]); // one group of 2 channels, 8 values
    const P = { 'n.weight': tf.tensor1d([2, 1]), 'n.bias': tf.tensor1d([0, 10]) };
    const y = groupNorm(P, 'n', x, 1, 0).dataSync();
    const mean = 4.5;
    const sd = Math.sqrt([1, 2, 3, 4, 5, 6, 7, 8].reduce((a, v) => a + (v - mean) ** 2, 0) / 8);
    expectClose(Array.from(y), [1, 2, 3, 4, 5, 6, 7, 8].map((v, i) => ((v - mean) / sd) * (i % 2 ? 1 : 2) + (i % 2 ? 10 : 0)), 1e-5, 1e-5);
  });

  it('custom gradient equals automatic differentiation (x, weight, bias), rank 4 and 3', () => {
    for (const shape of [[3, 4, 5, 16], [2, 7, 8]]) {
      const C = shape[shape.length - 1];
      const x = tf.variable(tf.randomNormal(shape, 0.5, 2, 'float32', 1));
      const r = tf.randomNormal(shape, 0, 1, 'float32', 2);
      const P = { 'n.weight': tf.variable(tf.randomUniform([C], 0.5, 1.5, 'float32', 3)), 'n.bias': tf.variable(tf.randomNormal([C], 0, 1, 'float32', 4)) };
      const groups = C / 4;
      for (const act of [false, true]) {
        const ours = act ? groupNormSilu : groupNorm;
        const a = tf.variableGrads(() => tf.sum(tf.mul(ours(P, 'n', x, groups, 1e-5), r)) as tf.Scalar);
        const b = tf.variableGrads(() => {
          const y = groupNormAutodiff(P, 'n', x, groups, 1e-5);
          return tf.sum(tf.mul(act ? silu(y) : y, r)) as tf.Scalar;
        });
        expect(a.value.dataSync()[0]).toBeCloseTo(b.value.dataSync()[0], 3);
        for (const k of Object.keys(b.grads)) {
          const scale = tf.max(tf.abs(b.grads[k])).dataSync()[0];
          expectClose(a.grads[k].dataSync(), b.grads[k].dataSync(), 1e-4, 1e-5 * scale, `grad ${k} ${shape} silu=${act}`);
        }
        tf.dispose([a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
      }
      tf.dispose([x, r, P['n.weight'], P['n.bias']]);
    }
  });

  it('does not leak in forward or backward', () => {
    const x = tf.variable(tf.randomNormal([2, 4, 4, 8]));
    const P = { 'n.weight': tf.ones([8]), 'n.bias': tf.zeros([8]) };
    expectNoLeakedTensors(() => {
      const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(groupNorm(P, 'n', x, 2, 1e-5))) as tf.Scalar);
      tf.dispose([value, ...Object.values(grads)]);
    });
    tf.dispose([x, P['n.weight'], P['n.bias']]);
  });
});

describe('upsample2x', () => {
  it('is nearest-neighbour: out[i, j] = in[i // 2, j // 2], with the summing gradient', () => {
    const x = tf.variable(tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1]));
    const y = upsample2x(x);
    expect(y.shape).toEqual([2, 4, 4, 1]);
    const a = y.arraySync() as number[][][][];
    for (let n = 0; n < 2; n++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) expect(a[n][i][j][0]).toBe(1 + 4 * n + 2 * (i >> 1) + (j >> 1));
    const w = tf.tensor4d(Array.from({ length: 32 }, (_, k) => k), [2, 4, 4, 1]);
    const { grads } = tf.variableGrads(() => tf.sum(tf.mul(upsample2x(x), w)) as tf.Scalar);
    // d/dx[n, i, j] = sum of w over its 2x2 block
    const g = Array.from(grads[x.name].dataSync());
    const expected: number[] = [];
    for (let n = 0; n < 2; n++) for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
      let s = 0;
      for (const di of [0, 1]) for (const dj of [0, 1]) s += 16 * n + 4 * (2 * i + di) + (2 * j + dj);
      expected.push(s);
    }
    expect(g).toEqual(expected);
  });
});

describe('timestepFeatures', () => {
  it('gives [sin(t f_i), cos(t f_i)] with f_i = 10000^(-i/half)', () => {
    const f = timestepFeatures(tf.tensor1d([0, 7]), 4).arraySync() as number[][];
    expectClose(f[0], [0, 0, 1, 1], 0, 1e-7);
    expectClose(f[1], [Math.sin(7), Math.sin(7 / 100), Math.cos(7), Math.cos(7 / 100)], 1e-5, 1e-6);
    expect(() => timestepFeatures(tf.tensor1d([1]), 3)).toThrow(/even/);
  });
});
