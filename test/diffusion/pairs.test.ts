import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { ShapeError } from '../../src/errors.js';
import { createSchedule, makePairBatch } from '../../src/diffusion/index.js';
import { expectClose, expectNoLeak, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

const B = 3;
const shape = [B, 4, 4, 2];
const rows = (t: tf.Tensor) => t.arraySync() as number[][][][];

describe('makePairBatch', () => {
  it('shares one timestep and one noise draw per pair, chosen rows first', () => {
    const schedule = createSchedule({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    const chosen = tf.randomNormal(shape, 0, 1, 'float32', 1);
    const rejected = tf.randomNormal(shape, 0, 1, 'float32', 2);
    const b = makePairBatch({ chosen, rejected, schedule, rng: createRng(7) });
    expect(b.xt.shape).toEqual([2 * B, 4, 4, 2]);
    expect(b.target.shape).toEqual([2 * B, 4, 4, 2]);
    expect(b.t.shape).toEqual([2 * B]);
    const t = Array.from(b.t.dataSync());
    expect(t.slice(0, B)).toEqual(t.slice(B));
    expect(b.timesteps).toEqual(t);
    const n = rows(b.noise);
    for (let i = 0; i < B; i++) expect(n[i]).toEqual(n[B + i]);
    expect(n[0]).not.toEqual(n[1]);
    // epsilon target is the noise; x_t follows a_t x0 + s_t noise per row
    expect(b.target.arraySync()).toEqual(b.noise.arraySync());
    const x0 = tf.concat([chosen, rejected]);
    const ref = schedule.addNoise(x0, b.noise, t);
    expectClose(b.xt.dataSync(), ref.dataSync(), 1e-6, 1e-6);
    expect(b.cond).toBeUndefined();
    tf.dispose([chosen, rejected, x0, ref, b]);
  });

  it('is deterministic for a seed; independent noise differs between the sides', () => {
    const schedule = createSchedule();
    const x = tf.zeros(shape);
    const a = makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(3) });
    const b = makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(3) });
    expect(a.xt.arraySync()).toEqual(b.xt.arraySync());
    expect(a.timesteps).toEqual(b.timesteps);
    const c = makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(3), noise: 'independent' });
    const n = rows(c.noise);
    expect(n[0]).not.toEqual(n[B]);
    tf.dispose([x, a, b, c]);
  });

  it('uses given per-image noise (SmPO), given timesteps, and the v / flow targets', () => {
    const chosen = tf.fill(shape, 0.5);
    const rejected = tf.fill(shape, -0.5);
    const nc = tf.fill(shape, 1);
    const nr = tf.fill(shape, -1);
    const schedule = createSchedule({ prediction_type: 'flow' });
    const b = makePairBatch({ chosen, rejected, schedule, rng: createRng(0), noise: { chosen: nc, rejected: nr }, timesteps: [0, 500, 1000] });
    expect(b.timesteps).toEqual([0, 500, 1000, 0, 500, 1000]);
    const xt = rows(b.xt);
    expect(xt[1][0][0][0]).toBeCloseTo(0.75, 6); // (1 - 0.5)*0.5 + 0.5*1
    expect(xt[4][0][0][0]).toBeCloseTo(-0.75, 6);
    const tg = rows(b.target);
    expect(tg[0][0][0][0]).toBeCloseTo(0.5, 6); // 1 - 0.5
    expect(tg[3][0][0][0]).toBeCloseTo(-0.5, 6); // -1 + 0.5
    const v = makePairBatch({ chosen, rejected, schedule: createSchedule({ prediction_type: 'v_prediction' }), rng: createRng(0) });
    const ref = createSchedule({ prediction_type: 'v_prediction' }).velocity(tf.concat([chosen, rejected]), v.noise, v.timesteps);
    expectClose(v.target.dataSync(), ref.dataSync(), 1e-6, 1e-6);
    tf.dispose([chosen, rejected, nc, nr, b, v, ref]);
  });

  it('concatenates conditioning chosen then rejected (DCPO captions), defaulting rejected to chosen', () => {
    const schedule = createSchedule();
    const x = tf.zeros(shape);
    const pc = tf.ones([B, 5]);
    const pr = tf.fill([B, 5], 2);
    const tok = tf.ones([B, 7, 6]);
    const b = makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(1), condChosen: { pooled: pc, tokens: tok }, condRejected: { pooled: pr, tokens: tok } });
    expect(b.cond!.pooled!.shape).toEqual([2 * B, 5]);
    expect(b.cond!.tokens!.shape).toEqual([2 * B, 7, 6]);
    expect((b.cond!.pooled!.arraySync() as number[][]).map((r) => r[0])).toEqual([1, 1, 1, 2, 2, 2]);
    const d = makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(1), condChosen: { pooled: pc } });
    expect((d.cond!.pooled!.arraySync() as number[][]).map((r) => r[0])).toEqual([1, 1, 1, 1, 1, 1]);
    tf.dispose([x, pc, pr, tok, b, d]);
  });

  it('rejects mismatched shapes by argument name', () => {
    const schedule = createSchedule();
    const a = tf.zeros([2, 4, 4, 2]);
    const r = tf.zeros([3, 4, 4, 2]);
    expect(() => makePairBatch({ chosen: a, rejected: r, schedule, rng: createRng(0) })).toThrow(ShapeError);
    expect(() => makePairBatch({ chosen: a, rejected: r, schedule, rng: createRng(0) })).toThrow(/Argument 'rejected' to makePairBatch has shape \[3, 4, 4, 2\], expected \[B=2, 4, 4, 2\]/);
    expect(() => makePairBatch({ chosen: a, rejected: a, schedule, rng: createRng(0), condChosen: { pooled: tf.zeros([3, 2]) } })).toThrow(/cond 'pooled'/);
    tf.dispose([a, r]);
  });

  it('does not leak tensors', () => {
    const schedule = createSchedule({ prediction_type: 'v_prediction' });
    const x = tf.zeros(shape);
    const p = tf.zeros([B, 3]);
    expectNoLeak(() => makePairBatch({ chosen: x, rejected: x, schedule, rng: createRng(0), condChosen: { pooled: p } }) as unknown as tf.TensorContainer);
    tf.dispose([x, p]);
  });
});
