import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { denoisingError } from '../../src/losses/denoising-error.js';
import { diffusionDpoLoss, type PairErrors } from '../../src/losses/diffusion-dpo.js';
import { SMPO_PICKSCORE_RANGE, smpoLoss, softPreference } from '../../src/losses/smpo.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { checkGradFiniteDiff, expectClose, pseudoRandom, val } from './helpers.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

const errs = (): PairErrors => ({
  policyChosen: tf.tensor1d([0.3, 0.5]),
  policyRejected: tf.tensor1d([0.4, 0.2]),
  refChosen: tf.tensor1d([0.31, 0.52]),
  refRejected: tf.tensor1d([0.41, 0.19]),
});

describe('smpoLoss', () => {
  it('p = ½ gives ln 2 and zero gradient', () => {
    const e = errs();
    const p = tf.tensor1d([0.5, 0.5]);
    expectClose(val(smpoLoss(e, { beta: 2000, preference: p }).loss), Math.log(2), 1e-6, 0, 'ln 2');
    const g = tf.grad((x: tf.Tensor) => smpoLoss({ ...e, policyChosen: x as tf.Tensor1D }, { beta: 2000, preference: p }).loss)(e.policyChosen);
    expect(Array.from(g.dataSync()).map(Math.abs)).toEqual([0, 0]);
    tf.dispose([e, p, g]);
  });

  it('p = 1 with scale k equals Diffusion-DPO with β·k; p = 0 reverses the pair', () => {
    const e = errs();
    const one = tf.ones([2]) as tf.Tensor1D;
    const zero = tf.zeros([2]) as tf.Tensor1D;
    expectClose(val(smpoLoss(e, { beta: 200, preference: one }).loss), val(diffusionDpoLoss(e, { beta: 2000 }).loss), 1e-6, 0, 'k = 10');
    expectClose(val(smpoLoss(e, { beta: 200, preference: one, scale: 1 }).loss), val(diffusionDpoLoss(e, { beta: 200 }).loss), 1e-6, 0, 'k = 1');
    const swapped: PairErrors = { policyChosen: e.policyRejected, policyRejected: e.policyChosen, refChosen: e.refRejected, refRejected: e.refChosen };
    expectClose(val(smpoLoss(e, { beta: 200, preference: zero }).loss), val(diffusionDpoLoss(swapped, { beta: 2000 }).loss), 1e-6, 0, 'p = 0');
    tf.dispose([e, one, zero]);
  });

  it('gradient w.r.t. the predictions matches finite differences', () => {
    const shape = [2, 2, 2, 1];
    const tw = pseudoRandom(shape, 1);
    const tl = pseudoRandom(shape, 2);
    const rw = tf.add(tw, pseudoRandom(shape, 3, 0.3));
    const rl = tf.add(tl, pseudoRandom(shape, 4, 0.3));
    const pw = tf.add(rw, pseudoRandom(shape, 5, 0.1));
    const pl = tf.add(rl, pseudoRandom(shape, 6, 0.1));
    const p = tf.tensor1d([0.7, 0.35]);
    checkGradFiniteDiff(
      (a, b) =>
        smpoLoss(
          { policyChosen: denoisingError(a, tw), policyRejected: denoisingError(b, tl), refChosen: denoisingError(rw, tw), refRejected: denoisingError(rl, tl) },
          { beta: 5, preference: p },
        ).loss,
      [pw, pl],
    );
    tf.dispose([tw, tl, rw, rl, pw, pl, p]);
  });

  it('rejects p outside [0, 1] and a missing p', () => {
    const e = errs();
    const p = tf.tensor1d([0.5, 1.2]);
    expect(() => smpoLoss(e, { beta: 1, preference: p })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Argument 'preference' to smpoLoss has value 1.2000000476837158 at flat index 1, expected values in [0, 1].]`,
    );
    const p3 = tf.tensor1d([0.5, 0.5, 0.5]);
    expect(() => smpoLoss(e, { beta: 1, preference: p3 })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'preference' to smpoLoss has shape [3], expected [2].]`,
    );
    expect(() => smpoLoss(e, { beta: 1 } as never)).toThrow(/preference/);
    tf.dispose([e, p, p3]);
  });

  it('leaks no tensors', () => {
    const e = errs();
    const p = tf.tensor1d([0.6, 0.8]);
    expectNoLeakedTensors(() => tf.dispose(smpoLoss(e, { beta: 2000, preference: p })));
    tf.dispose([e, p]);
  });
});

describe('softPreference', () => {
  it('is ½ for equal scores, σ(Δ/(max − min)) otherwise, and uses SmPO\'s PickScore range by default', () => {
    const a = tf.tensor1d([0.2, 0.3]);
    const b = tf.tensor1d([0.2, 0.1]);
    const p = softPreference(a, b);
    const d = 0.2 / (SMPO_PICKSCORE_RANGE.max - SMPO_PICKSCORE_RANGE.min);
    expectClose(p.dataSync(), [0.5, 1 / (1 + Math.exp(-d))], 1e-6, 0, 'p');
    const q = softPreference(a, b, { min: 0, max: 1 });
    expectClose(q.dataSync(), [0.5, 1 / (1 + Math.exp(-0.2))], 1e-6, 0, 'custom range');
    expect(() => softPreference(a, b, { min: 1, max: 1 })).toThrow(/max > min/);
    expectNoLeakedTensors(() => softPreference(a, b), 1).dispose();
    tf.dispose([a, b, p, q]);
  });
});
