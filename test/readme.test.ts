/**
 * The README's quick-tour snippet, run as written (so the docs cannot drift from the API).
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, createSchedule, denoisingError, diffusionDpoLoss, initEngine, makePairBatch, TinyUNet } from '../src/index.js';

describe('README quick tour', () => {
  beforeAll(async () => {
    await initEngine({ backend: 'wasm' });
  });

  it('runs one Diffusion-DPO gradient step of TinyUNet; the loss is ln 2 while policy equals reference', () => {
    const before = tf.memory().numTensors;
    const schedule = createSchedule({ beta_schedule: 'scaled_linear', prediction_type: 'epsilon' });
    const policy = new TinyUNet({ seed: 0 });
    const reference = policy.cloneFrozen();
    const rng = createRng(0);
    const B = 2;
    const chosen = tf.tensor(createRng(1).normalArray(B * 16 * 16 * 4), [B, 16, 16, 4]);
    const rejected = tf.tensor(createRng(2).normalArray(B * 16 * 16 * 4), [B, 16, 16, 4]);
    const pooled = tf.tensor(createRng(3).normalArray(B * 32), [B, 32]);
    const batch = makePairBatch({ chosen, rejected, schedule, rng, condChosen: { pooled } });
    const { value, grads } = tf.variableGrads(() => {
      const err = denoisingError(policy.predict(batch.xt, batch.t, batch.cond), batch.target); // [2B]
      const ref = tf.tidy(() => denoisingError(reference.predict(batch.xt, batch.t, batch.cond), batch.target));
      const [pc, pr] = tf.split<tf.Tensor1D>(err, 2);
      const [rc, rr] = tf.split<tf.Tensor1D>(ref, 2);
      return diffusionDpoLoss({ policyChosen: pc, policyRejected: pr, refChosen: rc, refRejected: rr }, { beta: 5000 }).loss as tf.Scalar;
    });
    expect(value.dataSync()[0]).toBeCloseTo(Math.LN2, 5);
    expect(Object.keys(grads).length).toBe(policy.trainableVariables.length);
    const gnorm = tf.tidy(() => tf.addN(Object.values(grads).map((g) => tf.sum(tf.square(g)))).dataSync()[0]);
    expect(Number.isFinite(gnorm) && gnorm > 0).toBe(true);
    tf.dispose([value, grads as never, batch as never, chosen, rejected, pooled]);
    policy.dispose();
    reference.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
