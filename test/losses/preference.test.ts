import * as tf from '@tensorflow/tfjs';
import { fc, it as itProp } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { linkLoss, LINKS } from '../../src/losses/links.js';
import { preferenceLoss } from '../../src/losses/preference.js';
import { negLogSigmoid, softplus, stopGradient } from '../../src/losses/stable.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { expectClose, val } from './helpers.js';

const LN2 = Math.log(2);
const SEED = { seed: 20261127, numRuns: 60 };

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

/** Loss and metrics for scores given as numbers. */
function run(chosen: number[], rejected: number[], opts: Parameters<typeof preferenceLoss>[1]) {
  return tf.tidy(() => {
    const out = preferenceLoss({ chosen: tf.tensor1d(chosen), rejected: tf.tensor1d(rejected) }, opts);
    return { loss: val(out.loss), m: Object.fromEntries(Object.entries(out.metrics).map(([k, v]) => [k, val(v)])) };
  });
}

/** dLoss/dchosen for scores given as numbers. */
function gradChosen(chosen: number[], rejected: number[], opts: Parameters<typeof preferenceLoss>[1]): number[] {
  return tf.tidy(() => {
    const r = tf.tensor1d(rejected);
    const g = tf.grad((c: tf.Tensor) => preferenceLoss({ chosen: c as tf.Tensor1D, rejected: r }, opts).loss)(tf.tensor1d(chosen));
    return Array.from(g.dataSync());
  });
}

describe('softplus / negLogSigmoid', () => {
  it('is exact at 0 and at |x| = 1e4 (no overflow), with gradient σ(x)', () => {
    const x = tf.tensor1d([-1e4, -30, 0, 30, 1e4]);
    expectClose(softplus(x).dataSync() as Float32Array, [0, Math.log1p(Math.exp(-30)), LN2, 30, 1e4], 1e-6, 1e-12, 'softplus');
    const g = tf.grad((t: tf.Tensor) => tf.sum(softplus(t)))(x);
    expectClose(g.dataSync() as Float32Array, [0, 1 / (1 + Math.exp(30)), 0.5, 1 / (1 + Math.exp(-30)), 1], 1e-6, 1e-12, 'σ');
    expectClose(negLogSigmoid(tf.tensor1d([1e4, -1e4])).dataSync() as Float32Array, [0, 1e4], 1e-7, 0, '-logσ');
    tf.dispose([x, g]);
  });

  it('stopGradient is the identity with zero gradient', () => {
    const x = tf.tensor1d([1, 2]);
    const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(stopGradient(t), t)))(x);
    expectClose(g.dataSync() as Float32Array, [1, 2], 0, 0, 'd(sg(x)·x)/dx = sg(x)');
    tf.dispose([x, g]);
  });
});

describe('preferenceLoss: hand-derived values', () => {
  it('equals ln 2 at margin 0 for sigmoid, smoothed and robust (any ε)', () => {
    expectClose(run([0.3, -2], [0.3, -2], { beta: 5000 }).loss, LN2, 1e-6, 0, 'sigmoid');
    expectClose(run([0.3], [0.3], { beta: 10, link: 'smoothed', labelSmoothing: 0.3 }).loss, LN2, 1e-6, 0, 'smoothed');
    expectClose(run([0.3], [0.3], { beta: 10, link: 'robust', labelSmoothing: 0.2 }).loss, LN2, 1e-6, 0, 'robust');
    expectClose(run([0.3], [0.3], { beta: 10, link: 'hinge' }).loss, 1, 1e-6, 0, 'hinge at 0');
  });

  it('IPO is 0 at margin 1/(2β) and (1/(2β))² at margin 0', () => {
    const beta = 0.5;
    expectClose(run([1 / (2 * beta)], [0], { beta, link: 'ipo' }).loss, 0, 0, 1e-12, 'ipo at 1/(2β)');
    expectClose(run([0], [0], { beta, link: 'ipo' }).loss, 1, 1e-6, 0, 'ipo at 0');
  });

  it('has a non-zero gradient at a tie: dL/dr_w = −β·σ(0)/B', () => {
    expectClose(gradChosen([0, 0], [0, 0], { beta: 4 }), [-1, -1], 1e-6, 0, 'tie grad');
  });

  it('metrics: rewards are β·r, margins mean z, accuracies count ties ½', () => {
    const { m } = run([1, 0, -1, 2], [0, 0, 0, 3], { beta: 2 });
    expect(m['rewards/chosen']).toBeCloseTo((2 * (1 + 0 - 1 + 2)) / 4, 6);
    expect(m['rewards/rejected']).toBeCloseTo((2 * 3) / 4, 6);
    expect(m['rewards/margins']).toBeCloseTo((2 * (1 + 0 - 1 - 1)) / 4, 6);
    expect(m['rewards/accuracies']).toBeCloseTo((1 + 0.5 + 0 + 0) / 4, 6);
  });

  it('smoothed with a soft label p: −p log σ(z) − (1 − p) log σ(−z)', () => {
    const z = 1.3;
    const p = 0.8;
    const expected = p * Math.log1p(Math.exp(-z)) + (1 - p) * Math.log1p(Math.exp(z));
    const out = tf.tidy(() =>
      val(preferenceLoss({ chosen: tf.tensor1d([z]), rejected: tf.tensor1d([0]) }, { beta: 1, link: 'smoothed', preference: tf.tensor1d([p]) }).loss),
    );
    expectClose(out, expected, 1e-6, 0, 'soft label');
  });

  it('weights: Σw·ℓ/Σw, and all-zero weights give loss 0, zero gradient, NaN accuracy', () => {
    const w = tf.tensor1d([1, 0, 3]);
    const out = run([1, 5, -1], [0, 0, 0], { beta: 1, weights: w });
    const l = (z: number) => Math.log1p(Math.exp(-z));
    expectClose(out.loss, (l(1) + 3 * l(-1)) / 4, 1e-6, 0, 'weighted');
    const zero = tf.zeros([3]) as tf.Tensor1D;
    const o0 = run([1, 5, -1], [0, 0, 0], { beta: 1, weights: zero });
    expect(o0.loss).toBe(0);
    expect(o0.m['rewards/accuracies']).toBeNaN();
    expect(gradChosen([1, 5, -1], [0, 0, 0], { beta: 1, weights: zero }).map((v) => v + 0)).toEqual([0, 0, 0]);
    tf.dispose([w, zero]);
  });

  it('SFT term adds λ·mean(sft) and reports loss/sft', () => {
    const sft = tf.tensor1d([0.2, 0.4]);
    const out = run([0, 0], [0, 0], { beta: 1, sft, sftWeight: 0.5 });
    expectClose(out.loss, LN2 + 0.5 * 0.3, 1e-6, 0, 'with sft');
    expectClose(out.m['loss/sft'], 0.3, 1e-6, 0, 'loss/sft');
    sft.dispose();
  });
});

describe('preferenceLoss: extremes (|z| up to 1e4)', () => {
  it.each(LINKS)('%s stays finite with finite gradients at z = ±1e4', (link) => {
    for (const m of [1e4, -1e4]) {
      const opts = { beta: 1, link, labelSmoothing: link === 'robust' || link === 'smoothed' ? 0.1 : 0 };
      const out = run([m], [0], opts);
      expect(Number.isFinite(out.loss), `${link} loss at ${m}`).toBe(true);
      for (const v of Object.values(out.m)) expect(Number.isFinite(v)).toBe(true);
      const g = gradChosen([m], [0], opts);
      expect(Number.isFinite(g[0]), `${link} grad at ${m}`).toBe(true);
    }
  });

  it('has the right limits: sigmoid 0 / 1e4, grads 0 / −β', () => {
    expect(run([1e4], [0], { beta: 1 }).loss).toBe(0);
    expectClose(run([-1e4], [0], { beta: 1 }).loss, 1e4, 1e-7, 0, 'sigmoid at −1e4');
    expectClose(gradChosen([1e4, -1e4], [0, 0], { beta: 1 }), [0, -0.5], 1e-7, 0, 'sigmoid grads');
    expectClose(run([-1e4], [0], { beta: 1, link: 'robust', labelSmoothing: 0.1 }).loss, (0.9 * 1e4) / 0.8, 1e-6, 0, 'robust at −1e4');
    expectClose(run([1e4], [0], { beta: 1, link: 'robust', labelSmoothing: 0.1 }).loss, (-0.1 * 1e4) / 0.8, 1e-6, 0, 'robust at 1e4');
  });
});

describe('preferenceLoss: errors', () => {
  it('ShapeError names the argument', () => {
    const a = tf.tensor1d([1, 2]);
    const b = tf.tensor1d([1, 2, 3]);
    expect(() => preferenceLoss({ chosen: a, rejected: b }, { beta: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'rejected' to preferenceLoss has shape [3], expected [N=2].]`,
    );
    expect(() => preferenceLoss({ chosen: a, rejected: a }, { beta: 1, weights: b })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'weights' to preferenceLoss has shape [3], expected [N=2].]`,
    );
    tf.dispose([a, b]);
  });

  it('ConfigError for a bad β, link or ε', () => {
    const a = tf.tensor1d([1]);
    expect(() => preferenceLoss({ chosen: a, rejected: a }, { beta: 0 })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Option 'beta' to preferenceLoss is 0, expected a finite number > 0.]`,
    );
    expect(() => preferenceLoss({ chosen: a, rejected: a }, { beta: 1, link: 'ipo2' as never })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Unknown link "ipo2". Expected one of: sigmoid, smoothed, robust, hinge, ipo.]`,
    );
    expect(() => preferenceLoss({ chosen: a, rejected: a }, { beta: 1, link: 'robust', labelSmoothing: 0.5 })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: labelSmoothing for link "robust" is 0.5, expected a number in [0, 0.5).]`,
    );
    a.dispose();
  });

  it('leaks no tensors', () => {
    const c = tf.tensor1d([0.1, -0.2]);
    const r = tf.tensor1d([0.3, 0.1]);
    const w = tf.tensor1d([1, 2]);
    for (const link of LINKS) {
      expectNoLeakedTensors(() => tf.dispose(preferenceLoss({ chosen: c, rejected: r }, { beta: 3, link, labelSmoothing: 0.1, weights: w, sft: c, sftWeight: 1 })));
    }
    expectNoLeakedTensors(() => tf.dispose(tf.grad((x: tf.Tensor) => preferenceLoss({ chosen: x as tf.Tensor1D, rejected: r }, { beta: 3 }).loss)(c)));
    // an error thrown inside the tidy scope (ε out of range for smoothed) leaves nothing behind
    const before = tf.memory().numTensors;
    expect(() => preferenceLoss({ chosen: c, rejected: r }, { beta: 3, link: 'smoothed', labelSmoothing: 2 })).toThrow(/labelSmoothing/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([c, r, w]);
  });
});

describe('preferenceLoss: properties (fast-check, fixed seed)', () => {
  const score = fc.double({ min: -50, max: 50, noNaN: true });
  const scores = fc.array(score, { minLength: 1, maxLength: 6 });

  itProp.prop([scores, scores, fc.double({ min: 0.01, max: 100, noNaN: true })], SEED)(
    'swapping chosen and rejected flips the margin and the rewards',
    (a, b, beta) => {
      const n = Math.min(a.length, b.length);
      const x = a.slice(0, n);
      const y = b.slice(0, n);
      const fwd = run(x, y, { beta });
      const rev = run(y, x, { beta });
      expect(rev.m['rewards/margins']).toBeCloseTo(-fwd.m['rewards/margins'], 3);
      expect(rev.m['rewards/chosen']).toBeCloseTo(fwd.m['rewards/rejected'], 3);
      expect(rev.m['rewards/accuracies'] + fwd.m['rewards/accuracies']).toBeCloseTo(1, 6);
    },
  );

  itProp.prop([score, score, fc.double({ min: 0.001, max: 50, noNaN: true })], SEED)('the sigmoid link decreases as the margin grows', (m1, m2, d) => {
    const lo = Math.min(m1, m2);
    const l1 = run([lo], [0], { beta: 1 }).loss;
    const l2 = run([lo + d], [0], { beta: 1 }).loss;
    expect(l2).toBeLessThanOrEqual(l1);
  });

  itProp.prop([scores, scores, fc.constantFrom(...(['sigmoid', 'smoothed', 'robust'] as const))], SEED)('β → 0 gives ln 2', (a, b, link) => {
    const n = Math.min(a.length, b.length);
    const out = run(a.slice(0, n), b.slice(0, n), { beta: 1e-7, link, labelSmoothing: 0.1 });
    expect(out.loss).toBeCloseTo(LN2, 4);
  });
});

describe('linkLoss', () => {
  it('throws for an unknown link', () => {
    const z = tf.tensor1d([0]);
    expect(() => linkLoss('nope' as never, { z, beta: 1 })).toThrow(/Unknown link "nope"/);
    z.dispose();
  });
});
