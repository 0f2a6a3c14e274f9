import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { denoisingError } from '../../src/losses/denoising-error.js';
import { mapoLoss } from '../../src/losses/mapo.js';
import { sftLoss } from '../../src/losses/sft.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { checkGradFiniteDiff, expectClose, pseudoRandom, val } from './helpers.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

const f = (e: number, s = 0.5) => (s * e) / Math.expm1(s * e);

describe('mapoLoss', () => {
  it('equal errors: log_odds 0, loss = mean(e_w) + β·ln 2', () => {
    const e = tf.tensor1d([0.2, 0.4]);
    const out = mapoLoss({ policyChosen: e, policyRejected: e }, { beta: 0.1 });
    expectClose(val(out.loss), 0.3 + 0.1 * Math.log(2), 1e-6, 0, 'loss');
    expect(val(out.metrics['rewards/accuracies'])).toBe(0.5);
    e.dispose();
  });

  it('f(e) = s·e/(exp(s·e) − 1) is exact across the series/closed-form switch and finite at e = 0 (official code: 0/0)', () => {
    const es = [0, 1e-6, 0.1, 0.19, 0.2, 0.21, 1, 30, 1e4];
    const w = tf.tensor1d(es);
    const zero = tf.zeros([es.length]) as tf.Tensor1D;
    const out = mapoLoss({ policyChosen: w, policyRejected: zero }, {});
    // rewards/chosen = mean f(e_w); check each value through a one-element batch
    for (const e of es) {
      const t = tf.tensor1d([e]);
      const o = mapoLoss({ policyChosen: t, policyRejected: t }, {});
      expectClose(val(o.metrics['rewards/chosen']), e === 0 ? 1 : f(e), 1e-6, 1e-30, `f(${e})`);
      tf.dispose([t, o]);
    }
    expect(Number.isFinite(val(out.loss))).toBe(true);
    const g = tf.grad((x: tf.Tensor) => mapoLoss({ policyChosen: x as tf.Tensor1D, policyRejected: zero }, {}).loss)(w);
    for (const v of g.dataSync()) expect(Number.isFinite(v)).toBe(true);
    tf.dispose([w, zero, out, g]);
  });

  it('lower chosen error → positive log-odds and accuracy 1', () => {
    const w = tf.tensor1d([0.1, 0.2]);
    const l = tf.tensor1d([0.3, 0.5]);
    const out = mapoLoss({ policyChosen: w, policyRejected: l }, {});
    expect(val(out.metrics['rewards/margins'])).toBeGreaterThan(0);
    expect(val(out.metrics['rewards/accuracies'])).toBe(1);
    expectClose(val(out.metrics['rewards/margins']), (f(0.1) - f(0.3) + f(0.2) - f(0.5)) / 2, 1e-5, 0, 'log odds');
    tf.dispose([w, l, out]);
  });

  it('gradient w.r.t. the predictions matches finite differences', () => {
    const shape = [2, 2, 2, 1];
    const tw = pseudoRandom(shape, 1);
    const tl = pseudoRandom(shape, 2);
    const pw = tf.add(tw, pseudoRandom(shape, 5, 0.5));
    const pl = tf.add(tl, pseudoRandom(shape, 6, 0.5));
    checkGradFiniteDiff((a, b) => mapoLoss({ policyChosen: denoisingError(a, tw), policyRejected: denoisingError(b, tl) }, { beta: 0.5, numTrainTimesteps: 10 }).loss, [pw, pl]);
    tf.dispose([tw, tl, pw, pl]);
  });

  it('errors and leaks', () => {
    const a = tf.tensor1d([0.1, 0.2]);
    const b = tf.tensor1d([0.1]);
    expect(() => mapoLoss({ policyChosen: a, policyRejected: b })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'policyRejected' to mapoLoss has shape [1], expected [B=2].]`,
    );
    expect(() => mapoLoss({ policyChosen: a, policyRejected: a }, { snr: 0 })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Option 'snr' to mapoLoss is 0, expected a finite number > 0.]`,
    );
    expectNoLeakedTensors(() => tf.dispose(mapoLoss({ policyChosen: a, policyRejected: a })));
    expectNoLeakedTensors(() => tf.dispose(tf.grad((x: tf.Tensor) => mapoLoss({ policyChosen: x as tf.Tensor1D, policyRejected: a }).loss)(a)));
    tf.dispose([a, b]);
  });
});

describe('sftLoss', () => {
  it('is the mean chosen error', () => {
    const a = tf.tensor1d([0.1, 0.3]);
    const out = sftLoss({ policyChosen: a });
    expectClose(val(out.loss), 0.2, 1e-6, 0, 'sft');
    expectNoLeakedTensors(() => tf.dispose(sftLoss({ policyChosen: a })));
    tf.dispose([a, out]);
  });
});
