import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { FlatAdamW } from '../../src/train/optimizer.js';

interface Golden {
  init: number[][];
  shapes: number[][];
  config: { beta1: number; beta2: number; eps: number; weightDecay: number; maxGradNorm: number };
  lrs: number[];
  grads: (number | null)[][];
  params_after_step: number[][][];
}
const golden = JSON.parse(readFileSync(new URL('../golden/adamw.json', import.meta.url), 'utf8')) as Golden;

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('FlatAdamW', () => {
  it.each(['host', 'device'] as const)('matches torch.optim.AdamW + clip_grad_norm_ step by step, skipping a non-finite step (%s write-back)', (writeback) => {
    const vars = golden.init.map((v, i) => tf.variable(tf.tensor(v, golden.shapes[i]), true, `p${i}-${writeback}`));
    const opt = new FlatAdamW(vars, { lr: 1, ...golden.config }, { writeback });
    expect(opt.writeback).toBe(writeback);
    for (let k = 0; k < golden.lrs.length; k++) {
      const g = tf.tensor1d(golden.grads[k].map((x) => (x === null ? Number.NaN : x)));
      const info = opt.update(g, golden.lrs[k], { maxGradNorm: golden.config.maxGradNorm });
      expect(info.applied.dataSync()[0]).toBe(golden.grads[k][0] === null ? 0 : 1);
      vars.forEach((v, i) => {
        const got = v.dataSync();
        const want = golden.params_after_step[k][i];
        for (let j = 0; j < want.length; j++) expect(Math.abs(got[j] - want[j])).toBeLessThan(2e-6);
      });
      tf.dispose([g, info.gradNorm, info.applied]);
    }
    opt.dispose();
    tf.dispose(vars);
  });

  it('round-trips its state and applies the same next update', async () => {
    const mk = () => [tf.variable(tf.tensor([1, 2, 3]), true), tf.variable(tf.tensor([[4, 5]]), true)];
    const va = mk();
    const a = new FlatAdamW(va, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    const g1 = tf.tensor1d([0.1, -0.2, 0.3, 0.4, -0.5]);
    tf.dispose(Object.values(a.update(g1, 0.1, { maxGradNorm: null })));
    const state = await a.getState();
    expect(state.step).toBe(1);
    const vb = mk();
    vb.forEach((v, i) => v.assign(va[i]));
    const b = new FlatAdamW(vb, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 });
    b.setState(state);
    const g2 = tf.tensor1d([0.3, 0.1, -0.1, 0.2, 0.0]);
    tf.dispose(Object.values(a.update(g2, 0.05, { maxGradNorm: null })));
    tf.dispose(Object.values(b.update(g2, 0.05, { maxGradNorm: null })));
    va.forEach((v, i) => expect(Array.from(vb[i].dataSync())).toEqual(Array.from(v.dataSync())));
    expect(() => b.setState({ step: 1, m: new Float32Array(2), v: new Float32Array(2) })).toThrow(/2\/2 moment values, the model has 5 parameters/);
    a.dispose();
    b.dispose();
    tf.dispose([...va, ...vb, g1, g2]);
  });

  it.each(['host', 'device'] as const)('creates no tensors per update (%s write-back)', (writeback) => {
    const v = [tf.variable(tf.ones([3]), true), tf.variable(tf.ones([2, 2]), true)];
    const opt = new FlatAdamW(v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, { writeback });
    const g = tf.ones([7]);
    tf.dispose(Object.values(opt.update(g, 0.1, { maxGradNorm: 1 })));
    const n = tf.memory().numTensors;
    tf.dispose(Object.values(opt.update(g, 0.1, { maxGradNorm: 1 })));
    expect(tf.memory().numTensors).toBe(n);
    opt.dispose();
    tf.dispose([g, ...v]);
  });
});
