import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import golden from '../golden/diffusion-schedules.json' with { type: 'json' };
import { ConfigError, isConfigError } from '../../src/errors.js';
import { createRng } from '../../src/core/random.js';
import { createSchedule, DDIMScheduler, DDPMScheduler, FlowMatchEulerScheduler, inferenceTimesteps, parseScheduleConfig } from '../../src/diffusion/index.js';
import { expectClose, expectNoLeak, useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

type Cfg = Record<string, unknown>;
const t4 = (v: number[], shape: number[]) => tf.tensor(v, shape, 'float32');

describe('createSchedule', () => {
  it('matches diffusers alphas_cumprod for every beta schedule, with and without zero-SNR rescaling', () => {
    expect(golden.alphas_cumprod.length).toBe(7);
    for (const c of golden.alphas_cumprod) {
      const s = createSchedule(c.config as Cfg);
      expect(s.alphasCumprod).toBeInstanceOf(Float64Array);
      expectClose(s.alphasCumprod, c.alphas_cumprod, 1e-10, 1e-14, JSON.stringify(c.config));
    }
  });

  it('gives zero terminal SNR when rescaled', () => {
    const s = createSchedule({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, rescale_betas_zero_snr: true });
    expect(s.alphasCumprod[999]).toBeLessThan(1e-20);
    expect(s.snr([999])[0]).toBeLessThan(1e-20);
  });

  it('keeps unknown keys, fills diffusers defaults, and reads scheduler_config.json', () => {
    const dir = mkdtempSync(join(tmpdir(), 'prefkit-sched-'));
    const file = join(dir, 'scheduler_config.json');
    const sd15 = {
      _class_name: 'PNDMScheduler',
      _diffusers_version: '0.6.0',
      beta_end: 0.012,
      beta_schedule: 'scaled_linear',
      beta_start: 0.00085,
      num_train_timesteps: 1000,
      set_alpha_to_one: false,
      skip_prk_steps: true,
      steps_offset: 1,
      trained_betas: null,
      clip_sample: false,
    };
    writeFileSync(file, JSON.stringify(sd15));
    const s = createSchedule(file);
    expect(s.config._class_name).toBe('PNDMScheduler');
    expect(s.config.skip_prk_steps).toBe(true);
    expect(s.config.prediction_type).toBe('epsilon');
    expect(s.config.timestep_spacing).toBe('leading');
    expect(JSON.parse(JSON.stringify(s))).toMatchObject(sd15);
    expect(createSchedule(s.toJSON()).alphasCumprod).toEqual(s.alphasCumprod);
    const ddim = new DDIMScheduler(file);
    expect(ddim.setTimesteps(5)).toEqual([801, 601, 401, 201, 1]);
  });

  it('rejects bad values with a ConfigError naming the key', () => {
    expect(() => createSchedule({ beta_schedule: 'cosine' as never })).toThrow(ConfigError);
    try {
      createSchedule({ prediction_type: 'eps' as never, num_train_timesteps: -3 });
      expect.fail('no error');
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
      expect((e as Error).message).toContain('prediction_type');
      expect((e as Error).message).toContain('num_train_timesteps');
    }
    expect(() => createSchedule({ trained_betas: [0.1, 0.2], num_train_timesteps: 3 })).toThrow(/trained_betas has 2 values/);
    expect(() => createSchedule('/nonexistent/scheduler_config.json')).toThrow(/Cannot read scheduler config/);
    expect(() => parseScheduleConfig({ thresholding: true as never })).toThrow(ConfigError);
  });

  it('matches diffusers timesteps for every spacing', () => {
    for (const c of golden.timesteps) {
      const cfg = parseScheduleConfig(c.config as Cfg);
      expect(inferenceTimesteps(cfg, c.num_inference_steps), JSON.stringify(c)).toEqual(c.timesteps);
    }
    expect(() => new DDIMScheduler().setTimesteps(1001)).toThrow(ConfigError);
  });
});

describe('addNoise / velocity / target', () => {
  const g = golden.noising;
  it('match diffusers add_noise and get_velocity (one t per sample, tensor or numbers)', () => {
    for (const c of g.cases) {
      const s = createSchedule(c.config as Cfg);
      const x0 = t4(g.x0, g.shape_nhwc);
      const noise = t4(g.noise, g.shape_nhwc);
      const tt = tf.tensor1d(c.t, 'float32');
      for (const t of [c.t, tt]) {
        const xt = s.addNoise(x0, noise, t);
        const v = s.velocity(x0, noise, t);
        expectClose(xt.dataSync(), c.noisy, 1e-5, 1e-6, 'addNoise');
        expectClose(v.dataSync(), c.velocity, 1e-5, 1e-6, 'velocity');
        tf.dispose([xt, v]);
      }
      tf.dispose([x0, noise, tt]);
    }
  });

  it('targets: epsilon = noise, sample = x0, v_prediction = velocity, flow = noise - x0', () => {
    const x0 = tf.tensor([1, 2, 3, 4], [2, 2]);
    const noise = tf.tensor([0.5, -1, 2, 0], [2, 2]);
    expect(createSchedule().target(x0, noise, [3, 7]).arraySync()).toEqual([[0.5, -1], [2, 0]]);
    expect(createSchedule({ prediction_type: 'sample' }).target(x0, noise, [3, 7]).arraySync()).toEqual([[1, 2], [3, 4]]);
    expect(createSchedule({ prediction_type: 'flow' }).target(x0, noise, [3, 7]).arraySync()).toEqual([[-0.5, -3], [-1, -4]]);
    const sv = createSchedule({ prediction_type: 'v_prediction' });
    const acp = sv.alphasCumprod[3];
    const v = sv.target(x0, noise, [3, 7]).dataSync();
    expect(v[0]).toBeCloseTo(Math.sqrt(acp) * 0.5 - Math.sqrt(1 - acp) * 1, 6);
    tf.dispose([x0, noise]);
  });

  it('flow noising interpolates x_t = (1 - t/T) x0 + (t/T) noise', () => {
    const s = createSchedule({ prediction_type: 'flow', num_train_timesteps: 1000 });
    const x0 = tf.tensor([[2], [2], [2]]);
    const n = tf.tensor([[-2], [-2], [-2]]);
    expectClose(s.addNoise(x0, n, [0, 250, 1000]).dataSync(), [2, 1, -2]);
    // x0 and eps recovered from the flow prediction u = noise - x0
    const xt = s.addNoise(x0, n, [0, 250, 1000]);
    const u = s.target(x0, n, [0, 250, 1000]);
    const { x0: r0, eps } = s.predictedOriginalAndNoise(u, xt, [0, 250, 1000]);
    expectClose(r0.dataSync(), [2, 2, 2]);
    expectClose(eps.dataSync(), [-2, -2, -2]);
  });

  it('predictedOriginalAndNoise inverts addNoise for every discrete prediction type', () => {
    const x0 = tf.tensor([0.3, -0.7, 1.1, 0.2], [2, 2]);
    const noise = tf.tensor([-0.4, 0.9, 0.1, -1.3], [2, 2]);
    for (const pt of ['epsilon', 'v_prediction', 'sample'] as const) {
      const s = createSchedule({ prediction_type: pt });
      const xt = s.addNoise(x0, noise, [10, 800]);
      const y = s.target(x0, noise, [10, 800]);
      const r = s.predictedOriginalAndNoise(y, xt, tf.tensor1d([10, 800]));
      expectClose(r.x0.dataSync(), x0.dataSync(), 1e-4, 1e-4, pt);
      expectClose(r.eps.dataSync(), noise.dataSync(), 1e-4, 1e-4, pt);
    }
  });

  it('addNoise with alpha-bar = 1 returns x0; shape errors name the argument', () => {
    const s = createSchedule({ trained_betas: [0, 0.5], num_train_timesteps: 2 });
    const x0 = tf.tensor([[1, 2]]);
    const n = tf.tensor([[5, 5]]);
    expect(s.addNoise(x0, n, [0]).arraySync()).toEqual([[1, 2]]);
    expect(() => s.addNoise(x0, tf.zeros([1, 3]), [0])).toThrow(/shape \[1, 2\] vs \[1, 3\]/);
    expect(() => s.addNoise(x0, n, [0, 1])).toThrow(/Argument 't' to addNoise has 2 timesteps, expected 1/);
    expect(() => s.addNoise(x0, n, [2])).toThrow(/Timestep 2 out of range/);
  });

  it('does not leak tensors', () => {
    const s = createSchedule({ prediction_type: 'v_prediction' });
    const x0 = tf.ones([2, 3]);
    const n = tf.ones([2, 3]);
    const tt = tf.tensor1d([1, 2]);
    expectNoLeak(() => s.addNoise(x0, n, tt));
    expectNoLeak(() => s.target(x0, n, [1, 2]));
    expectNoLeak(() => s.predictedOriginalAndNoise(x0, n, tt));
    tf.dispose([x0, n, tt]);
  });
});

describe('snr and minSnrWeights', () => {
  it('snr = acp / (1 - acp); min-SNR weights per prediction type (hand-derived)', () => {
    const s = createSchedule({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
    const ts = [0, 100, 500, 999];
    const snr = s.snr(ts);
    ts.forEach((t, i) => expect(snr[i]).toBeCloseTo(s.alphasCumprod[t] / (1 - s.alphasCumprod[t]), 8));
    const gamma = 5;
    const eps = s.minSnrWeights(ts, gamma);
    const v = s.with({ prediction_type: 'v_prediction' }).minSnrWeights(ts, gamma);
    const x0 = s.with({ prediction_type: 'sample' }).minSnrWeights(ts, gamma);
    ts.forEach((_, i) => {
      expect(eps[i]).toBeCloseTo(Math.min(snr[i], gamma) / snr[i], 10);
      expect(v[i]).toBeCloseTo(Math.min(snr[i], gamma) / (snr[i] + 1), 10);
      expect(x0[i]).toBeCloseTo(Math.min(snr[i], gamma), 10);
    });
    expect(eps[0]).toBeLessThan(0.01); // snr(0) ~ 1175: heavily down-weighted
    expect(eps[3]).toBe(1); // snr < gamma: weight 1
    const f = createSchedule({ prediction_type: 'flow' });
    expect(f.snr([500])[0]).toBeCloseTo(1, 12);
    expect(f.minSnrWeights([500], 5)[0]).toBeCloseTo(0.25, 12);
  });
});

describe('DDIMScheduler', () => {
  const g = golden.ddim_step;
  it('matches diffusers DDIM step for every prediction type, eta, and flag set', () => {
    expect(g.cases.length).toBeGreaterThan(50);
    const sample = t4(g.sample, g.shape_nhwc);
    const mo = t4(g.model_output, g.shape_nhwc);
    const z = t4(g.noise, g.shape_nhwc);
    for (const c of g.cases) {
      const sch = new DDIMScheduler(c.config as Cfg);
      sch.setTimesteps(c.num_inference_steps);
      const { prevSample, predOriginalSample } = sch.step(mo, c.t, sample, { eta: c.eta, noise: z });
      const label = `${JSON.stringify(c.config)} t=${c.t} eta=${c.eta}`;
      expectClose(prevSample.dataSync(), c.prev_sample, 1e-5, 1e-5, label);
      expectClose(predOriginalSample.dataSync(), c.pred_original_sample, 1e-5, 1e-5, label);
      tf.dispose([prevSample, predOriginalSample]);
    }
    tf.dispose([sample, mo, z]);
  });

  it('runs diffusers full 10-step DDIM loops with the dummy model x*t/(t+1)', () => {
    const g2 = golden.ddim_full_loop;
    // diffusers' own expected values (tests/schedulers/test_scheduler_ddim.py)
    const diffusersSums = [172.0067, 52.5302, 149.8295, 149.0784];
    g2.cases.forEach((c, k) => {
      const sch = new DDIMScheduler(c.config as Cfg);
      expect(sch.setTimesteps(10)).toEqual(c.timesteps);
      let x = t4(g2.initial_sample, g2.shape_nhwc);
      for (const t of sch.timesteps) {
        const out = tf.tidy(() => {
          const r = sch.step(tf.mul(x, t / (t + 1)), t, x, { eta: 0 });
          tf.dispose(r.predOriginalSample);
          return r.prevSample;
        });
        x.dispose();
        x = out;
      }
      const v = Array.from(x.dataSync());
      expectClose(v, c.final_sample, 1e-5, 1e-5, JSON.stringify(c.config));
      const sumAbs = v.reduce((a, b) => a + Math.abs(b), 0);
      expect(sumAbs).toBeCloseTo(c.result_sum_abs, 2);
      if (k < diffusersSums.length) expect(Math.abs(sumAbs - diffusersSums[k])).toBeLessThan(1e-2);
      x.dispose();
    });
  });

  it('needs setTimesteps and noise for eta > 0; does not leak', () => {
    const sch = new DDIMScheduler();
    const x = tf.ones([1, 2]);
    expect(() => sch.step(x, 10, x)).toThrow(/setTimesteps/);
    sch.setTimesteps(10);
    expect(() => sch.step(x, 900, x, { eta: 1 })).toThrow(/eta > 0 needs variance noise/);
    expectNoLeak(() => sch.step(x, 900, x, { eta: 0.5, rng: createRng(1) }));
    expect(() => new DDIMScheduler({ prediction_type: 'flow' })).toThrow(/FlowMatchEulerScheduler/);
    x.dispose();
  });
});

describe('DDPMScheduler', () => {
  it('matches diffusers DDPM step (fixed_small, fixed_large; with and without setTimesteps)', () => {
    const g = golden.ddpm_step;
    const sample = t4(g.sample, g.shape_nhwc);
    const mo = t4(g.model_output, g.shape_nhwc);
    const z = t4(g.noise, g.shape_nhwc);
    for (const c of g.cases) {
      const sch = new DDPMScheduler(c.config as Cfg);
      if (c.num_inference_steps) sch.setTimesteps(c.num_inference_steps);
      const { prevSample, predOriginalSample } = sch.step(mo, c.t, sample, { noise: z });
      const label = `${JSON.stringify(c.config)} n=${c.num_inference_steps} t=${c.t}`;
      expectClose(prevSample.dataSync(), c.prev_sample, 1e-5, 1e-5, label);
      expectClose(predOriginalSample.dataSync(), c.pred_original_sample, 1e-5, 1e-5, label);
      tf.dispose([prevSample, predOriginalSample]);
    }
    tf.dispose([sample, mo, z]);
  });

  it('steps t -> t-1 without setTimesteps and follows the list with it', () => {
    const sch = new DDPMScheduler();
    expect(sch.timesteps.length).toBe(1000);
    expect(sch.previousTimestep(500)).toBe(499);
    sch.setTimesteps(4);
    expect(sch.timesteps).toEqual([750, 500, 250, 0]);
    expect(sch.previousTimestep(500)).toBe(250);
    expect(sch.previousTimestep(0)).toBe(-1);
    expect(() => sch.previousTimestep(499)).toThrow(/not one of the inference timesteps/);
  });
});

describe('FlowMatchEulerScheduler', () => {
  it('integrates a straight path exactly: x1 = noise, u = noise - x0 gives x0 after n steps', () => {
    const sch = new FlowMatchEulerScheduler({ prediction_type: 'flow', num_train_timesteps: 1000 });
    expect(sch.setTimesteps(4)).toEqual([1000, 750, 500, 250]);
    const x0 = tf.tensor([[0.5, -1]]);
    const noise = tf.tensor([[2, 3]]);
    let x = noise.clone();
    for (const t of sch.timesteps) {
      const u = tf.sub(noise, x0);
      const { prevSample, predOriginalSample } = sch.step(u, t, x);
      expectClose(predOriginalSample.dataSync(), [0.5, -1], 1e-6, 1e-6);
      tf.dispose([u, predOriginalSample, x]);
      x = prevSample;
    }
    expectClose(x.dataSync(), [0.5, -1], 1e-6, 1e-6);
    expect(() => new FlowMatchEulerScheduler({ prediction_type: 'epsilon' })).toThrow(/needs prediction_type 'flow'/);
  });
});
