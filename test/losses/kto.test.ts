import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { denoisingError } from '../../src/losses/denoising-error.js';
import { ktoLoss } from '../../src/losses/kto.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { checkGradFiniteDiff, expectClose, pseudoRandom, val } from './helpers.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

describe('ktoLoss', () => {
  it('policy = reference: u = 0, kl = 0, loss = mean(λ)/2', () => {
    const d = tf.tensor1d([0.3, 0.5]);
    const u = tf.tensor1d([0.2]);
    const out = ktoLoss({ policyChosen: d, refChosen: d, policyRejected: u, refRejected: u }, { beta: 1000, desirableWeight: 1, undesirableWeight: 4 });
    expectClose(val(out.loss), (1 + 1 + 4) / 3 / 2, 1e-6, 0, 'loss');
    expect(val(out.metrics.kl)).toBe(0);
    expect(val(out.metrics['rewards/accuracies'])).toBe(0.5);
    tf.dispose([d, u, out]);
  });

  it('kl is the clamped batch mean of g and carries no gradient', () => {
    // g = ref − policy: desirable [0.2, 0.1], undesirable [0.3] → kl = 0.2
    const pc = tf.tensor1d([0.1, 0.3]);
    const rc = tf.tensor1d([0.3, 0.4]);
    const pr = tf.tensor1d([0.2]);
    const rr = tf.tensor1d([0.5]);
    const beta = 10;
    const out = ktoLoss({ policyChosen: pc, refChosen: rc, policyRejected: pr, refRejected: rr }, { beta });
    expectClose(val(out.metrics.kl), 0.2, 1e-6, 0, 'kl');
    const s = (x: number) => 1 / (1 + Math.exp(-x));
    // u = [β(0.2 − 0.2), β(0.1 − 0.2), −β(0.3 − 0.2)]; loss = mean σ(−u)
    const us = [0, -1, -1];
    expectClose(val(out.loss), us.reduce((a, x) => a + s(-x), 0) / 3, 1e-5, 0, 'loss');
    // with kl detached: dL/dpolicy_i = (1/n)·σ'(u_i)·y_i·β  (dg/dpolicy = −1, d(1 − σ(u))/du = −σ'(u))
    const g = tf.grad((x: tf.Tensor) => ktoLoss({ policyChosen: x as tf.Tensor1D, refChosen: rc, policyRejected: pr, refRejected: rr }, { beta }).loss)(pc);
    const ds = (x: number) => s(x) * (1 - s(x));
    expectClose(g.dataSync(), [(ds(0) * beta) / 3, (ds(-1) * beta) / 3], 1e-5, 0, 'detached kl gradient');
    tf.dispose([pc, rc, pr, rr, out, g]);
  });

  it('accepts unequal desirable / undesirable counts and no undesirable at all', () => {
    const a = tf.tensor1d([0.3, 0.2, 0.1]);
    const b = tf.tensor1d([0.35, 0.1, 0.1]);
    const empty = tf.tensor1d([]);
    const out = ktoLoss({ policyChosen: a, refChosen: b, policyRejected: empty, refRejected: empty }, { beta: 5 });
    expect(Number.isFinite(val(out.loss))).toBe(true);
    expect(val(out.metrics['rewards/rejected'])).toBe(0);
    tf.dispose([a, b, empty, out]);
  });

  it('stays finite at |β·g| = 1e4 and reports NaN inputs', () => {
    const a = tf.tensor1d([0, 2]);
    const b = tf.tensor1d([1, 1]);
    const out = ktoLoss({ policyChosen: a, refChosen: b, policyRejected: b, refRejected: a }, { beta: 1e4 });
    expect(Number.isFinite(val(out.loss))).toBe(true);
    const n = tf.tensor1d([NaN, 1]);
    expect(val(ktoLoss({ policyChosen: n, refChosen: b, policyRejected: b, refRejected: b }, { beta: 1 }).metrics.nonFinite)).toBe(1);
    tf.dispose([a, b, out, n]);
  });

  it('gradient w.r.t. the predictions matches finite differences (kl clamped at 0 there)', () => {
    const shape = [2, 2, 2, 1];
    const tw = pseudoRandom(shape, 1);
    const tl = pseudoRandom(shape, 2);
    const rw = tf.add(tw, pseudoRandom(shape, 3, 0.1));
    const rl = tf.add(tl, pseudoRandom(shape, 4, 0.1));
    const pw = tf.add(rw, pseudoRandom(shape, 5, 0.3)); // policy worse than reference: mean g < 0, kl = 0
    const pl = tf.add(rl, pseudoRandom(shape, 6, 0.3));
    const f = (a: tf.Tensor, b: tf.Tensor) =>
      ktoLoss({ policyChosen: denoisingError(a, tw), policyRejected: denoisingError(b, tl), refChosen: denoisingError(rw, tw), refRejected: denoisingError(rl, tl) }, { beta: 3 });
    expect(val(f(pw, pl).metrics.kl)).toBe(0);
    checkGradFiniteDiff((a, b) => f(a, b).loss, [pw, pl]);
    tf.dispose([tw, tl, rw, rl, pw, pl]);
  });

  it('shape errors and leaks', () => {
    const a = tf.tensor1d([0.1, 0.2]);
    const b = tf.tensor1d([0.1]);
    expect(() => ktoLoss({ policyChosen: a, refChosen: b, policyRejected: b, refRejected: b }, { beta: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'refChosen' to ktoLoss has shape [1], expected [Bd=2].]`,
    );
    expectNoLeakedTensors(() => tf.dispose(ktoLoss({ policyChosen: a, refChosen: a, policyRejected: b, refRejected: b }, { beta: 1 })));
    tf.dispose([a, b]);
  });
});
