import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng, randomNormal } from '../../src/core/random.js';
import { createSchedule, DDIMScheduler, FlowMatchEulerScheduler, TinyVideoUNet, type Conditioning, type Denoiser } from '../../src/diffusion/index.js';
import { labelSegmentsWith, makeDensePairs, segmentRanges } from '../../src/video/index.js';
import type { Judge, JudgeRequest } from '../../src/vlm/types.js';
import { isConfigError, isShapeError } from '../../src/errors.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

/** A denoiser given by a function of (x_t, t) (test double: exact math, no weights). */
function fnDenoiser(f: (xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning) => tf.Tensor): Denoiser {
  const d: Denoiser = {
    config: { kind: 'test' },
    predict: (xt, t, cond) => tf.tidy(() => f(xt, t, cond)),
    trainableVariables: [],
    namedVariables: () => ({}),
    cloneFrozen: () => d,
    save: async () => undefined,
    dispose: () => undefined,
  };
  return d;
}

const SHAPE = [2, 4, 3, 3, 2]; // [B, T, H, W, C]
const schedule = createSchedule({ clip_sample: false }); // diffusers DDIM defaults otherwise (linear betas, T = 1000, leading)

describe('makeDensePairs', () => {
  it('corrupts at the timestep round(η·N) steps from the end, with the two seeds (zero-ε model, hand-derived)', () => {
    // With ε̂ ≡ 0, each DDIM (η=0) step maps x_t to √(ᾱ_prev/ᾱ_t)·x_t, so after the last step
    // (ᾱ = 1) the result is x_ts / √ᾱ_ts = x0 + √((1 − ᾱ_ts)/ᾱ_ts)·ε_i.
    const x0 = randomNormal(createRng('x0'), SHAPE);
    const zero = fnDenoiser((xt) => tf.zerosLike(xt));
    const out = makeDensePairs(zero, new DDIMScheduler(schedule), x0, { strength: 0.3, steps: 10, seeds: [11, 22] });
    expect(out.timesteps).toEqual([200, 100, 0]); // leading spacing: 900, 800, ..., 0
    expect(out.startTimestep).toBe(200);
    const abar = schedule.alphasCumprod[200];
    expect(out.scales.signal).toBeCloseTo(Math.sqrt(abar), 12);
    expect(out.scales.noise).toBeCloseTo(Math.sqrt(1 - abar), 12);
    const k = Math.sqrt((1 - abar) / abar);
    const e1 = randomNormal(createRng(11), SHAPE);
    const e2 = randomNormal(createRng(22), SHAPE);
    const err1 = tf.tidy(() => out.first.sub(x0.add(e1.mul(k))).abs().max().dataSync()[0]);
    const err2 = tf.tidy(() => out.second.sub(x0.add(e2.mul(k))).abs().max().dataSync()[0]);
    expect(err1).toBeLessThan(1e-4);
    expect(err2).toBeLessThan(1e-4);
    expect(out.first.shape).toEqual(SHAPE);
    tf.dispose([x0, e1, e2, out.first, out.second]);
  });

  it('returns the input exactly when the model knows the clean video (oracle ε)', () => {
    const x0 = randomNormal(createRng('x0'), SHAPE);
    const acp = schedule.alphasCumprod;
    // ε̂ = (x_t − √ᾱ_t x0) / √(1 − ᾱ_t) for each copy in the 2B batch
    const oracle = fnDenoiser((xt, t) => {
      const ts = Array.from(t.dataSync());
      const a = tf.tensor(ts.map((s) => Math.sqrt(acp[s])), [ts.length, 1, 1, 1, 1]);
      const s = tf.tensor(ts.map((v) => Math.sqrt(1 - acp[v])), [ts.length, 1, 1, 1, 1]);
      const x0b = tf.concat(new Array(ts.length / SHAPE[0]).fill(x0), 0);
      return xt.sub(x0b.mul(a)).div(s);
    });
    const out = makeDensePairs(oracle, new DDIMScheduler(schedule), x0, { strength: 0.8, steps: 10, seeds: ['a', 'b'] });
    expect(out.timesteps).toHaveLength(8);
    for (const v of [out.first, out.second]) expect(tf.tidy(() => v.sub(x0).abs().max().dataSync()[0])).toBeLessThan(1e-4);
    tf.dispose([x0, out.first, out.second]);
  });

  it('is the paper\'s (1 − η)·x + η·ε on a flow schedule', () => {
    const flow = createSchedule({ prediction_type: 'flow', num_train_timesteps: 1000 });
    const sched = new FlowMatchEulerScheduler(flow);
    const x0 = randomNormal(createRng('x0'), SHAPE);
    // a model that predicts the flow target for a zero-noise guess: v̂ = −x̂0 with x̂0 = x0 (so it keeps x_t's noise)
    const out = makeDensePairs(fnDenoiser((xt) => tf.zerosLike(xt)), sched, x0, { strength: 0.5, steps: 10, seeds: [1, 2] });
    const sigma = out.startTimestep / 1000;
    expect(out.scales.signal).toBeCloseTo(1 - sigma, 12);
    expect(out.scales.noise).toBeCloseTo(sigma, 12);
    expect(Math.abs(sigma - 0.5)).toBeLessThan(0.06);
    tf.dispose([x0, out.first, out.second]);
  });

  it('keeps the pair temporally aligned: low strength stays near the input, full strength does not (TinyVideoUNet)', () => {
    const model = new TinyVideoUNet({ inChannels: 3, channels: [8], groups: 4, pooledDim: 0, timeFeatures: 8, embedDim: 16, seed: 3 });
    const x0 = tf.tidy(() => randomNormal(createRng('v'), [1, 4, 8, 8, 3]).mul(0.5));
    const dist = (a: tf.Tensor, b: tf.Tensor) => tf.tidy(() => a.sub(b).square().mean().dataSync()[0]);
    const lo = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 0.1, steps: 10, seeds: [1, 2] });
    const hi = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 1, steps: 10, seeds: [1, 2] });
    expect(lo.first.shape).toEqual([1, 4, 8, 8, 3]);
    expect(dist(lo.first, lo.second)).toBeLessThan(dist(hi.first, hi.second));
    expect(dist(lo.first, x0)).toBeLessThan(dist(hi.first, x0));
    expect(hi.timesteps).toHaveLength(10);
    tf.dispose([x0, lo.first, lo.second, hi.first, hi.second]);
    model.dispose();
  });

  it('uses the conditioning, with classifier-free guidance as ε_u + w(ε_c − ε_u)', () => {
    const x0 = randomNormal(createRng('x0'), [2, 2, 2, 2, 1]);
    // ε̂ = pooled value broadcast: cond → c, uncond → 0; guidance w gives w·c
    const model = fnDenoiser((xt, _t, cond) => tf.mul(tf.onesLike(xt), cond!.pooled!.reshape([-1, 1, 1, 1, 1])));
    const pooled = tf.tensor2d([[0.1], [0.2]]);
    const a = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 0.2, steps: 5, seeds: [1, 2], cond: { pooled } });
    const g = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 0.2, steps: 5, seeds: [1, 2], cond: { pooled }, guidanceScale: 3 });
    const z = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 0.2, steps: 5, seeds: [1, 2], cond: { pooled: tf.zerosLike(pooled) } });
    // the result is linear in the predicted ε, so (g − z) = 3·(a − z)
    const lhs = tf.tidy(() => g.first.sub(z.first));
    const rhs = tf.tidy(() => a.first.sub(z.first).mul(3));
    expect(tf.tidy(() => lhs.sub(rhs).abs().max().dataSync()[0])).toBeLessThan(1e-4);
    expect(tf.tidy(() => lhs.abs().max().dataSync()[0])).toBeGreaterThan(1e-3);
    tf.dispose([x0, pooled, a.first, a.second, g.first, g.second, z.first, z.second, lhs, rhs]);
  });

  it('leaks no tensors', () => {
    const x0 = randomNormal(createRng('x0'), SHAPE);
    const zero = fnDenoiser((xt) => tf.zerosLike(xt));
    const pooled = tf.zeros([2, 3]);
    expectNoLeakedTensors(() => {
      const o = makeDensePairs(zero, new DDIMScheduler(schedule), x0, { strength: 0.5, steps: 4, rng: createRng(5), cond: { pooled }, guidanceScale: 2, eta: 1 });
      tf.dispose([o.first, o.second]);
    });
    tf.dispose([x0, pooled]);
  });

  it('rejects bad strength, steps, equal seeds and mismatched conditioning', () => {
    const x0 = tf.zeros(SHAPE);
    const zero = fnDenoiser((xt) => tf.zerosLike(xt));
    const s = new DDIMScheduler(schedule);
    const bad = (o: Parameters<typeof makeDensePairs>[3]) => {
      try {
        makeDensePairs(zero, s, x0, o);
      } catch (e) {
        return e as Error;
      }
      throw new Error('did not throw');
    };
    expect(bad({ strength: 0 }).message).toBe('makeDensePairs: strength must be in (0, 1], got 0.');
    expect(isConfigError(bad({ strength: 1.5 }))).toBe(true);
    expect(bad({ strength: 0.5, steps: 0 }).message).toMatch(/steps must be a positive integer, got 0/);
    expect(bad({ strength: 0.5, seeds: [3, 3] }).message).toMatch(/the two seeds must differ/);
    const e = bad({ strength: 0.5, cond: { pooled: tf.zeros([3, 4]) } });
    expect(isShapeError(e)).toBe(true);
    expect(e.message).toMatch(/'cond.pooled' to makeDensePairs has batch 3, expected 2/);
    x0.dispose();
  });
});

/** A judge preferring the brighter video (mean pixel value), ties within 1e-6. */
const brightness: Judge = {
  id: 'brightness@test',
  async compare(r: JudgeRequest) {
    const m = (x: JudgeRequest['first']) => (x.kind === 'frames' ? tf.tidy(() => x.tensor!.mean().dataSync()[0]) : 0);
    const [a, b] = [m(r.first), m(r.second)];
    const preference = Math.abs(a - b) < 1e-6 ? 'tie' : a > b ? 'first' : 'second';
    return { preference, confidence: 1, rationale: `${a.toFixed(3)} vs ${b.toFixed(3)}`, scores: [a, b] };
  },
};

describe('labelSegmentsWith', () => {
  it('labels each segment +1/-1/0 from the judge, in order, on the right frames', async () => {
    // first: brightness per frame 0.1·t; second: constant 0.35 → first loses early, ties, wins late
    const T = 10;
    const first = tf.tidy(() => tf.range(0, T).mul(0.1).reshape([T, 1, 1, 1]).tile([1, 2, 2, 3]));
    const second = tf.fill([T, 2, 2, 3], 0.35);
    const ranges = segmentRanges(T, { segmentFrames: 4 }); // [0,4) mean .15, [4,8) mean .55, [8,10) mean .85
    const ranges2 = [{ start: 2, end: 5 }]; // mean 0.3 < 0.35
    const tie = [{ start: 3, end: 5 }]; // frames 3,4 → mean 0.35
    const before = tf.memory().numTensors;
    const out = await labelSegmentsWith(brightness, first, second, ranges, { concurrency: 2, criteria: 'brightness' });
    expect(out.labels).toEqual([-1, 1, 1]);
    expect(out.judgements.map((j) => j.scores![0])).toEqual([expect.closeTo(0.15, 5), expect.closeTo(0.55, 5), expect.closeTo(0.85, 5)]);
    expect((await labelSegmentsWith(brightness, first, second, ranges2)).labels).toEqual([-1]);
    expect((await labelSegmentsWith(brightness, first, second, tie)).labels).toEqual([0]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([first, second]);
  });

  it('rejects misaligned videos and bad ranges', async () => {
    const a = tf.zeros([4, 2, 2, 3]);
    const b = tf.zeros([5, 2, 2, 3]);
    await expect(labelSegmentsWith(brightness, a, b, [])).rejects.toThrow(/'second' to labelSegmentsWith has shape \[5, 2, 2, 3\], expected \[4, 2, 2, 3\]/);
    await expect(labelSegmentsWith(brightness, a, a, [{ start: 2, end: 6 }])).rejects.toThrow(/segment 0 is \[2, 6\), expected a non-empty integer range inside \[0, 4\)/);
    tf.dispose([a, b]);
  });
});
