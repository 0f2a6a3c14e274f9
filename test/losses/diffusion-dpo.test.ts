import * as tf from '@tensorflow/tfjs';
import { fc, it as itProp } from '@fast-check/vitest';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { dcpoLoss } from '../../src/losses/dcpo.js';
import { denoisingError, segmentErrors } from '../../src/losses/denoising-error.js';
import { denseDpoLoss } from '../../src/losses/dense-dpo.js';
import { betaFromDiffusersSd15, diffusionDpoLoss, type PairErrors } from '../../src/losses/diffusion-dpo.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { checkGradFiniteDiff, expectClose, pseudoRandom, val } from './helpers.js';

const LN2 = Math.log(2);

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

const errs = (pc: number[], pr: number[], rc: number[], rr: number[]): PairErrors => ({
  policyChosen: tf.tensor1d(pc),
  policyRejected: tf.tensor1d(pr),
  refChosen: tf.tensor1d(rc),
  refRejected: tf.tensor1d(rr),
});

/** Predictions and targets for a pair batch: B = 2, samples [2, 2, 1]. */
function predBatch(seed: number) {
  const shape = [2, 2, 2, 1];
  const tw = pseudoRandom(shape, seed);
  const tl = pseudoRandom(shape, seed + 1);
  const rw = tf.add(tw, pseudoRandom(shape, seed + 2, 0.3));
  const rl = tf.add(tl, pseudoRandom(shape, seed + 3, 0.3));
  const pw = tf.add(rw, pseudoRandom(shape, seed + 4, 0.1));
  const pl = tf.add(rl, pseudoRandom(shape, seed + 5, 0.1));
  return { tw, tl, rw, rl, pw, pl };
}

describe('denoisingError', () => {
  it('is the mean (not the sum) of squared errors over non-batch elements', () => {
    const pred = tf.fill([2, 3, 4, 2], 0.5);
    const target = tf.concat([tf.zeros([1, 3, 4, 2]), tf.fill([1, 3, 4, 2], 2)]);
    expectClose(denoisingError(pred, target).dataSync() as Float32Array, [0.25, 2.25], 1e-7, 0, 'err');
    tf.dispose([pred, target]);
  });

  it('ShapeError names the argument', () => {
    const a = tf.zeros([2, 3]);
    const b = tf.zeros([2, 4]);
    const c = tf.zeros([2]);
    expect(() => denoisingError(a, b)).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'target' to denoisingError has shape [2, 4], expected the shape of 'pred' [2, 3].]`,
    );
    expect(() => denoisingError(c, c)).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'pred' to denoisingError has shape [2], expected rank >= 2 ([B, ...]).]`,
    );
    tf.dispose([a, b, c]);
  });
});

describe('segmentErrors', () => {
  it('groups consecutive frames, the last segment shorter: T = 5, S = 2 → F = 3', () => {
    // frame f of sample b has squared error (b + 1)·(f + 1) everywhere
    const vals: number[] = [];
    for (let b = 0; b < 2; b++) for (let f = 0; f < 5; f++) for (let k = 0; k < 2 * 2 * 3; k++) vals.push(Math.sqrt((b + 1) * (f + 1)));
    const pred = tf.tensor(vals, [2, 5, 2, 2, 3]);
    const target = tf.zerosLike(pred);
    const e = segmentErrors(pred, target, { segmentFrames: 2 });
    expect(e.shape).toEqual([2, 3]);
    expectClose(e.dataSync() as Float32Array, [1.5, 3.5, 5, 3, 7, 10], 1e-6, 0, 'segments');
    const one = segmentErrors(pred, target, { segmentFrames: 5 });
    expectClose(one.dataSync() as Float32Array, denoisingError(pred, target).dataSync() as Float32Array, 1e-6, 0, 'S = T equals denoisingError');
    tf.dispose([pred, target, e, one]);
  });

  it('rejects a bad segmentFrames or layout', () => {
    const v = tf.zeros([1, 4, 2, 2, 1]);
    const img = tf.zeros([1, 2, 2, 1]);
    expect(() => segmentErrors(v, v, { segmentFrames: 0 })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Option 'segmentFrames' to segmentErrors is 0, expected an integer >= 1.]`,
    );
    expect(() => segmentErrors(img, img, { segmentFrames: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'pred' to segmentErrors has shape [1, 2, 2, 1], expected [B, T, H, W, C].]`,
    );
    tf.dispose([v, img]);
  });
});

describe('diffusionDpoLoss', () => {
  it('equals ln 2 when the policy equals the reference, with a non-zero gradient', () => {
    const e = errs([0.3, 0.5], [0.4, 0.2], [0.3, 0.5], [0.4, 0.2]);
    const out = diffusionDpoLoss(e, { beta: 5000 });
    expectClose(val(out.loss), LN2, 1e-6, 0, 'tie');
    expect(val(out.metrics['rewards/accuracies'])).toBe(0.5);
    // dL/d err_θ(w)_b = (1/B)·(½β)·σ(0)
    const g = tf.grad((x: tf.Tensor) => diffusionDpoLoss({ ...e, policyChosen: x as tf.Tensor1D }, { beta: 5000 }).loss)(e.policyChosen);
    expectClose(g.dataSync() as Float32Array, [625, 625], 1e-6, 0, 'tie grad');
    tf.dispose([e, out, g]);
  });

  it('matches the hand-derived gradient w.r.t. the predictions (research notes 2.2)', () => {
    const { tw, tl, rw, rl, pw, pl } = predBatch(11);
    const beta = 50;
    const loss = (a: tf.Tensor, b: tf.Tensor) =>
      diffusionDpoLoss(
        { policyChosen: denoisingError(a, tw), policyRejected: denoisingError(b, tl), refChosen: denoisingError(rw, tw), refRejected: denoisingError(rl, tl) },
        { beta },
      ).loss;
    const [gw, gl] = tf.grads(loss)([pw, pl]);
    const z = tf.tidy(() =>
      tf.mul(-0.5 * beta, tf.sub(tf.sub(denoisingError(pw, tw), denoisingError(pl, tl)), tf.sub(denoisingError(rw, tw), denoisingError(rl, tl)))),
    );
    const B = 2;
    const N = 4;
    const coef = tf.tidy(() => tf.reshape(tf.mul((1 / B) * (0.5 * beta) * (2 / N), tf.sigmoid(tf.neg(z))), [B, 1, 1, 1]));
    const expW = tf.tidy(() => tf.mul(coef, tf.sub(pw, tw)));
    const expL = tf.tidy(() => tf.neg(tf.mul(coef, tf.sub(pl, tl))));
    expectClose(gw.dataSync() as Float32Array, Array.from(expW.dataSync()), 1e-4, 1e-7, 'dL/dpred_w');
    expectClose(gl.dataSync() as Float32Array, Array.from(expL.dataSync()), 1e-4, 1e-7, 'dL/dpred_l');
    tf.dispose([tw, tl, rw, rl, pw, pl, gw, gl, z, coef, expW, expL]);
  });

  it.each(['sigmoid', 'smoothed', 'robust', 'hinge', 'ipo'] as const)('%s: gradient w.r.t. the predictions matches finite differences', (link) => {
    const { tw, tl, rw, rl, pw, pl } = predBatch(23);
    const beta = link === 'ipo' ? 2 : 20;
    checkGradFiniteDiff(
      (a, b) =>
        diffusionDpoLoss(
          { policyChosen: denoisingError(a, tw), policyRejected: denoisingError(b, tl), refChosen: denoisingError(rw, tw), refRejected: denoisingError(rl, tl) },
          { beta, link, labelSmoothing: 0.1, sftWeight: 0.3 },
        ).loss,
      [pw, pl],
    );
    tf.dispose([tw, tl, rw, rl, pw, pl]);
  });

  itProp.prop([fc.array(fc.double({ min: 0, max: 2, noNaN: true }), { minLength: 4, maxLength: 4 })], { seed: 4242, numRuns: 40 })(
    'swapping chosen and rejected flips the margin',
    (v) => {
      const [a, b, c, d] = v as number[];
      const e = errs([a], [b], [c], [d]);
      const s = errs([b], [a], [d], [c]);
      const m1 = val(diffusionDpoLoss(e, { beta: 100 }).metrics['rewards/margins']);
      const m2 = val(diffusionDpoLoss(s, { beta: 100 }).metrics['rewards/margins']);
      expect(m2).toBeCloseTo(-m1, 3);
      expectClose(m1, -50 * (a - b - (c - d)), 1e-4, 1e-4, 'z');
      tf.dispose([e, s]);
    },
  );

  it('stays finite at |z| = 1e4 and reports metrics', () => {
    const e = errs([0, 2], [2, 0], [1, 1], [1, 1]); // z = −½β·(model_diff − ref_diff) = ±1e4 with β = 1e4
    const out = diffusionDpoLoss(e, { beta: 1e4 });
    expectClose(val(out.metrics['rewards/margins']), 0, 0, 1e-3, 'margins');
    expectClose(val(out.loss), 1e4 / 2, 1e-6, 0, 'loss = (0 + 1e4)/2');
    // dL/d err_θ(w)_b = (1/B)·(½β)·σ(−z_b): 0 where z = 1e4, 2500 where z = −1e4
    const g = tf.grad((x: tf.Tensor) => diffusionDpoLoss({ ...e, policyChosen: x as tf.Tensor1D }, { beta: 1e4 }).loss)(e.policyChosen);
    expectClose(g.dataSync() as Float32Array, [0, 2500], 1e-6, 0, 'saturated grads');
    expect(val(out.metrics.nonFinite)).toBe(0);
    expectClose(val(out.metrics['loss/policy']), 1, 1e-7, 0, 'loss/policy');
    tf.dispose([e, out, g]);
  });

  it('reports NaN/Inf inputs in nonFinite (and the loss is not finite)', () => {
    const e = errs([NaN, 0.1], [0.2, Infinity], [0.1, 0.1], [0.2, 0.2]);
    const out = diffusionDpoLoss(e, { beta: 10 });
    expect(val(out.metrics.nonFinite)).toBe(2);
    expect(Number.isFinite(val(out.loss))).toBe(false);
    tf.dispose([e, out]);
  });

  it('ShapeError names the argument', () => {
    const e = errs([1, 2], [1, 2], [1, 2], [1, 2]);
    const bad = tf.zeros([2, 1]) as unknown as tf.Tensor1D;
    expect(() => diffusionDpoLoss({ ...e, refRejected: bad }, { beta: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'refRejected' to diffusionDpoLoss has shape [2, 1], expected [B=2].]`,
    );
    const short = tf.zeros([3]) as tf.Tensor1D;
    expect(() => dcpoLoss({ ...e, policyRejected: short }, { beta: 1 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'policyRejected' to dcpoLoss has shape [3], expected [B=2].]`,
    );
    tf.dispose([e, bad, short]);
  });

  it('leaks no tensors (forward and backward)', () => {
    const e = errs([0.3, 0.5], [0.4, 0.2], [0.31, 0.52], [0.41, 0.19]);
    expectNoLeakedTensors(() => tf.dispose(diffusionDpoLoss(e, { beta: 5000, sftWeight: 1 })));
    expectNoLeakedTensors(() =>
      tf.dispose(tf.grad((x: tf.Tensor) => diffusionDpoLoss({ ...e, policyChosen: x as tf.Tensor1D }, { beta: 5000 }).loss)(e.policyChosen)),
    );
    const { tw, pw } = predBatch(3);
    expectNoLeakedTensors(() => denoisingError(pw, tw), 1).dispose();
    tf.dispose([e, tw, pw]);
  });
});

describe('betaFromDiffusersSd15', () => {
  it('doubles the SD1.5 script β (2500 → 5000) and the losses then agree', () => {
    expect(betaFromDiffusersSd15(2500)).toBe(5000);
    const e = errs([0.3, 0.5], [0.4, 0.2], [0.3001, 0.5002], [0.3999, 0.2003]);
    // diffusers SD1.5: −log σ(β_sd15·(ref_diff − model_diff))
    const sd15 = tf.tidy(() =>
      val(tf.mean(tf.softplus(tf.neg(tf.mul(2500, tf.sub(tf.sub(e.refChosen, e.refRejected), tf.sub(e.policyChosen, e.policyRejected))))))),
    );
    expectClose(val(diffusionDpoLoss(e, { beta: betaFromDiffusersSd15(2500) }).loss), sd15, 1e-5, 0, 'same loss');
    expect(() => betaFromDiffusersSd15(0)).toThrowErrorMatchingInlineSnapshot(`[ConfigError: betaFromDiffusersSd15 got beta 0, expected a finite number > 0.]`);
    tf.dispose(e);
  });
});

describe('dcpoLoss', () => {
  it('is the Diffusion-DPO formula on errors under each sample\'s own caption', () => {
    const e = errs([0.3, 0.5], [0.4, 0.2], [0.31, 0.52], [0.41, 0.19]);
    expect(val(dcpoLoss(e, { beta: 500 }).loss)).toBe(val(diffusionDpoLoss(e, { beta: 500 }).loss));
    tf.dispose(e);
  });
});

describe('denseDpoLoss', () => {
  it('one segment with label +1 equals Diffusion-DPO (loss and gradients)', () => {
    const e = errs([0.3, 0.5, 0.1], [0.4, 0.2, 0.3], [0.31, 0.52, 0.12], [0.41, 0.19, 0.33]);
    const col = (t: tf.Tensor1D) => tf.reshape(t, [3, 1]) as tf.Tensor2D;
    const labels = tf.ones([3, 1]) as tf.Tensor2D;
    const dense = (x: tf.Tensor) =>
      denseDpoLoss({ policyA: col(x as tf.Tensor1D), policyB: col(e.policyRejected), refA: col(e.refChosen), refB: col(e.refRejected) }, { beta: 300, labels });
    const dpo = (x: tf.Tensor) => diffusionDpoLoss({ ...e, policyChosen: x as tf.Tensor1D }, { beta: 300 });
    const a = dense(e.policyChosen);
    const b = dpo(e.policyChosen);
    expectClose(val(a.loss), val(b.loss), 1e-6, 0, 'loss');
    for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies', 'loss/policy', 'loss/ref']) {
      expectClose(val(a.metrics[k]), val(b.metrics[k]), 1e-6, 1e-9, k);
    }
    const ga = tf.grad((x: tf.Tensor) => dense(x).loss)(e.policyChosen);
    const gb = tf.grad((x: tf.Tensor) => dpo(x).loss)(e.policyChosen);
    expectClose(ga.dataSync() as Float32Array, Array.from(gb.dataSync()), 1e-6, 0, 'grads');
    tf.dispose([e, labels, a, b, ga, gb]);
  });

  it('label −1 swaps the videos; ties are ignored; no decisive segment gives 0 and zero gradient', () => {
    const pA = tf.tensor2d([[0.3, 0.9]]);
    const pB = tf.tensor2d([[0.4, 0.1]]);
    const rA = tf.tensor2d([[0.31, 0.5]]);
    const rB = tf.tensor2d([[0.41, 0.5]]);
    const l1 = tf.tensor2d([[-1, 0]]);
    const swapped = denseDpoLoss({ policyA: pB, policyB: pA, refA: rB, refB: rA }, { beta: 100, labels: tf.tensor2d([[1, 0]]) });
    const direct = denseDpoLoss({ policyA: pA, policyB: pB, refA: rA, refB: rB }, { beta: 100, labels: l1 });
    expectClose(val(direct.loss), val(swapped.loss), 1e-6, 0, 'swap');
    expect(val(direct.metrics['count/decisive'])).toBe(1);
    const ties = tf.zeros([1, 2]) as tf.Tensor2D;
    const none = denseDpoLoss({ policyA: pA, policyB: pB, refA: rA, refB: rB }, { beta: 100, labels: ties });
    expect(val(none.loss)).toBe(0);
    expect(val(none.metrics['rewards/accuracies'])).toBeNaN();
    const g = tf.grad((x: tf.Tensor) => denseDpoLoss({ policyA: x as tf.Tensor2D, policyB: pB, refA: rA, refB: rB }, { beta: 100, labels: ties }).loss)(pA);
    expect(Array.from(g.dataSync()).map(Math.abs)).toEqual([0, 0]);
    tf.dispose([pA, pB, rA, rB, l1, swapped, direct, ties, none, g]);
  });

  it('gradient w.r.t. video predictions matches finite differences', () => {
    const shape = [2, 3, 2, 1, 1];
    const tA = pseudoRandom(shape, 5);
    const tB = pseudoRandom(shape, 6);
    const rA = tf.add(tA, pseudoRandom(shape, 7, 0.3));
    const rB = tf.add(tB, pseudoRandom(shape, 8, 0.3));
    const pA = tf.add(rA, pseudoRandom(shape, 9, 0.1));
    const pB = tf.add(rB, pseudoRandom(shape, 10, 0.1));
    const labels = tf.tensor2d([[1, -1], [0, 1]]);
    const S = { segmentFrames: 2 };
    checkGradFiniteDiff(
      (a, b) =>
        denseDpoLoss(
          { policyA: segmentErrors(a, tA, S), policyB: segmentErrors(b, tB, S), refA: segmentErrors(rA, tA, S), refB: segmentErrors(rB, tB, S) },
          { beta: 30, labels },
        ).loss,
      [pA, pB],
    );
    tf.dispose([tA, tB, rA, rB, pA, pB, labels]);
  });

  it('rejects labels outside {+1, −1, 0} and mismatched shapes', () => {
    const a = tf.zeros([1, 2]) as tf.Tensor2D;
    const l = tf.tensor2d([[1, 0.5]]);
    expect(() => denseDpoLoss({ policyA: a, policyB: a, refA: a, refB: a }, { beta: 1, labels: l })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Argument 'labels' to denseDpoLoss has value 0.5 at flat index 1, expected one of 1, -1, 0.]`,
    );
    const l3 = tf.zeros([1, 3]) as tf.Tensor2D;
    expect(() => denseDpoLoss({ policyA: a, policyB: a, refA: a, refB: a }, { beta: 1, labels: l3 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'labels' to denseDpoLoss has shape [1, 3], expected [B=1, F=2].]`,
    );
    tf.dispose([a, l, l3]);
  });

  it('leaks no tensors', () => {
    const a = tf.tensor2d([[0.3, 0.2]]);
    const b = tf.tensor2d([[0.1, 0.4]]);
    const l = tf.tensor2d([[1, -1]]);
    expectNoLeakedTensors(() => tf.dispose(denseDpoLoss({ policyA: a, policyB: b, refA: b, refB: a }, { beta: 10, labels: l })));
    tf.dispose([a, b, l]);
  });
});

describe('option guards', () => {
  it('missing options or β are ConfigErrors, not TypeErrors', () => {
    const e = errs([0.3], [0.4], [0.3], [0.4]);
    expect(() => diffusionDpoLoss(e, undefined as never)).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: The options of diffusionDpoLoss are missing (expected at least { beta }).]`,
    );
    expect(() => diffusionDpoLoss(e, {} as never)).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Option 'beta' to diffusionDpoLoss is undefined, expected a finite number > 0.]`,
    );
    tf.dispose(e);
  });
});
