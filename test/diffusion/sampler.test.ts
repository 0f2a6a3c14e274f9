import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRng } from '../../src/core/random.js';
import {
  createSchedule,
  DDIMScheduler,
  DDPMScheduler,
  ddimInvert,
  renoiseInvert,
  sample,
  type Conditioning,
  type Denoiser,
  type NoiseSchedule,
  TinyVideoUNet,
} from '../../src/diffusion/index.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

/**
 * The exact noise predictor for Gaussian data x0 ~ N(mu, sigma0^2 I), mu = pooled[:, 0] per sample:
 * E[eps | x_t] = s (x_t - a mu) / (a^2 sigma0^2 + s^2), a = sqrt(acp_t), s = sqrt(1 - acp_t).
 */
class GaussianDenoiser implements Denoiser {
  readonly config = { kind: 'GaussianTest' };
  readonly trainableVariables: tf.Variable[] = [];
  calls: number[] = [];
  constructor(
    private readonly schedule: NoiseSchedule,
    private readonly sigma0: number,
  ) {}
  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor {
    this.calls.push(xt.shape[0]);
    return tf.tidy(() => {
      const B = xt.shape[0];
      const bshape = [B, ...xt.shape.slice(1).map(() => 1)];
      const acp = tf.gather(tf.tensor1d(Float32Array.from(this.schedule.alphasCumprod)), tf.cast(t, 'int32'));
      const a = tf.reshape(tf.sqrt(acp), bshape);
      const s = tf.reshape(tf.sqrt(tf.sub(1, acp)), bshape);
      const mu = cond?.pooled ? tf.reshape(tf.slice(cond.pooled, [0, 0], [B, 1]), bshape) : tf.zeros(bshape);
      const denom = tf.add(tf.mul(tf.square(a), this.sigma0 ** 2), tf.square(s));
      return tf.div(tf.mul(s, tf.sub(xt, tf.mul(a, mu))), denom);
    });
  }
  namedVariables() {
    return {};
  }
  cloneFrozen(): Denoiser {
    return this;
  }
  async save(): Promise<void> {}
  dispose(): void {}
}

const cfg = { beta_schedule: 'scaled_linear' as const, beta_start: 0.00085, beta_end: 0.012, clip_sample: false, set_alpha_to_one: false, steps_offset: 1 };

describe('sample', () => {
  it('draws from the data distribution and applies batched classifier-free guidance', () => {
    const schedule = createSchedule(cfg);
    const model = new GaussianDenoiser(schedule, 0.1);
    const B = 4;
    const pooled = tf.tensor2d([[0.8], [0.8], [-0.5], [-0.5]]);
    const x = sample(model, { shape: [B, 8, 8, 1], cond: { pooled }, steps: 25, seed: 3, schedule });
    expect(model.calls.every((n) => n === B)).toBe(true); // w = 1: no doubled batch
    const rows = (x.arraySync() as number[][][][]).map((r) => r.flat(2));
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    const std = (v: number[]) => Math.sqrt(mean(v.map((u) => (u - mean(v)) ** 2)));
    expect(mean(rows[0])).toBeCloseTo(0.8, 1);
    expect(mean(rows[2])).toBeCloseTo(-0.5, 1);
    expect(std(rows[0])).toBeGreaterThan(0.05);
    expect(std(rows[0])).toBeLessThan(0.2);
    model.calls = [];
    const g = sample(model, { shape: [B, 8, 8, 1], cond: { pooled }, guidanceScale: 3, steps: 25, seed: 3, schedule });
    expect(model.calls).toEqual(new Array(25).fill(2 * B)); // one batched [uncond; cond] call per step
    const grows = (g.arraySync() as number[][][][]).map((r) => r.flat(2));
    expect(mean(grows[0])).toBeGreaterThan(1.3); // guidance pushes away from the unconditional mean 0
    expect(mean(grows[2])).toBeLessThan(-0.8);
    // same seed -> same samples; different seed -> different
    const again = sample(model, { shape: [B, 8, 8, 1], cond: { pooled }, steps: 25, seed: 3, schedule });
    expect(Array.from(again.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([pooled, x, g, again]);
  });

  it('runs DDPM and DDIM with eta > 0 deterministically from the seed, and does not leak', () => {
    const schedule = createSchedule(cfg);
    const model = new GaussianDenoiser(schedule, 0.3);
    const pooled = tf.tensor2d([[0.2], [0.4]]);
    const run = (seed: number) => sample(model, { shape: [2, 4, 4, 2], cond: { pooled }, steps: 10, eta: 1, seed, scheduler: new DDPMScheduler(schedule) });
    const a = run(1);
    const b = run(1);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(a.dataSync().every(Number.isFinite)).toBe(true);
    expectNoLeakedTensors(() => sample(model, { shape: [2, 4, 4, 2], cond: { pooled }, guidanceScale: 2, steps: 5, eta: 0.5, seed: 2, schedule }).dispose());
    expect(() => sample(model, { shape: [2, 4, 4, 2], latents: tf.zeros([1, 4, 4, 2]), schedule })).toThrow(/latents have shape/);
    tf.dispose([pooled, a, b]);
  });
});

describe('ddimInvert / renoiseInvert', () => {
  const relErr = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => tf.norm(tf.sub(a, b)).dataSync()[0] / tf.norm(b).dataSync()[0]);

  it('DDIM inversion then DDIM sampling (eta 0) reconstructs x0', () => {
    const schedule = createSchedule(cfg);
    const model = new GaussianDenoiser(schedule, 0.5);
    const pooled = tf.tensor2d([[0.3], [-0.2]]);
    const x0 = tf.tidy(() => tf.add(tf.mul(tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 5), 0.5), tf.reshape(tf.tensor1d([0.3, -0.2]), [2, 1, 1, 1])));
    const zT = ddimInvert(model, x0, { cond: { pooled }, steps: 50, schedule });
    const z = Array.from(zT.dataSync());
    const zStd = Math.sqrt(z.reduce((a, b) => a + b * b, 0) / z.length);
    expect(zStd).toBeGreaterThan(0.7); // a noise latent, not x0
    const back = sample(model, { shape: [2, 8, 8, 2], latents: zT, cond: { pooled }, steps: 50, schedule });
    const err = relErr(back, x0);
    expect(err).toBeLessThan(0.05);
    tf.dispose([pooled, x0, zT, back]);
  });

  it('ReNoise refinement reconstructs far better than plain inversion with few steps (SmPO: 5 steps, 2 averaged)', () => {
    const schedule = createSchedule(cfg);
    const model = new GaussianDenoiser(schedule, 0.5);
    const x0 = tf.mul(tf.randomNormal([2, 8, 8, 2], 0, 1, 'float32', 6), 0.5);
    const plain = ddimInvert(model, x0, { steps: 5, schedule });
    const rn = renoiseInvert(model, x0, { steps: 5, iterations: 20, average: 1, schedule }); // contraction ~0.5 per iteration here
    const smpo = renoiseInvert(model, x0, { steps: 5, iterations: 2, average: 2, schedule });
    const rec = (z: tf.Tensor) => {
      const b = sample(model, { shape: [2, 8, 8, 2], latents: z, steps: 5, schedule });
      const e = relErr(b, x0);
      b.dispose();
      return e;
    };
    const ePlain = rec(plain);
    const eRn = rec(rn);
    const eSmpo = rec(smpo);
    expect(eRn).toBeLessThan(1e-3);
    expect(eRn).toBeLessThan(ePlain / 20);
    expect(eSmpo).toBeLessThan(ePlain);
    expect(eRn).toBeLessThan(eSmpo);
    expect(() => renoiseInvert(model, x0, { iterations: 2, average: 3, schedule })).toThrow(/average must be an integer in \[1, 2\]/);
    expectNoLeakedTensors(() => renoiseInvert(model, x0, { steps: 3, iterations: 2, schedule }).dispose());
    tf.dispose([x0, plain, rn, smpo]);
  });

  it('inverts v-prediction models too (scheduler given)', () => {
    const schedule = createSchedule({ ...cfg, prediction_type: 'v_prediction' });
    const eps = new GaussianDenoiser(createSchedule(cfg), 0.5);
    // wrap: v = a eps - s x0, from the epsilon model's output and x_t
    const vModel: Denoiser = {
      ...eps,
      config: { kind: 'v' },
      trainableVariables: [],
      namedVariables: () => ({}),
      cloneFrozen: () => vModel,
      save: async () => {},
      dispose: () => {},
      predict: (xt, t, cond) =>
        tf.tidy(() => {
          const e = eps.predict(xt, t, cond);
          const { signal, noise } = schedule.scales(Array.from(t.dataSync()));
          const a = tf.tensor(Float32Array.from(signal), [xt.shape[0], 1, 1, 1]);
          const s = tf.tensor(Float32Array.from(noise), [xt.shape[0], 1, 1, 1]);
          const x0 = tf.div(tf.sub(xt, tf.mul(s, e)), a);
          return tf.sub(tf.mul(a, e), tf.mul(s, x0));
        }),
    };
    const x0 = tf.mul(tf.randomNormal([1, 4, 4, 2], 0, 1, 'float32', 8), 0.5);
    const sch = new DDIMScheduler(schedule);
    const zT = renoiseInvert(vModel, x0, { steps: 10, iterations: 20, average: 1, scheduler: sch });
    const back = sample(vModel, { shape: [1, 4, 4, 2], latents: zT, steps: 10, scheduler: sch, rng: createRng(0) });
    expect(relErr(back, x0)).toBeLessThan(1e-3);
    tf.dispose([x0, zT, back]);
  });
});

describe('sample with a video model', () => {
  it('generates [B, T, H, W, C] with guidance (flow schedule uses the Euler sampler)', () => {
    const video = new TinyVideoUNet({ inChannels: 2, channels: [8, 16], pooledDim: 3, embedDim: 16 });
    const pooled = tf.ones([2, 3]);
    const x = sample(video, { shape: [2, 3, 8, 8, 2], cond: { pooled }, guidanceScale: 2, steps: 3, seed: 1, schedule: { prediction_type: 'flow' } });
    expect(x.shape).toEqual([2, 3, 8, 8, 2]);
    expect(x.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([x, pooled]);
    video.dispose();
  });
});
