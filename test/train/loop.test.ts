import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { PreferenceTrainer, type TrainerEvent } from '../../src/train/index.js';
import { ArrayPairSource, DenseDenoiser, hashConditioner, linearSchedule, testDpoLoss } from './fixtures.js';

const SHAPE: [number, number, number] = [2, 2, 2];

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function makeTrainer(opts: { batchSize: number; accum: number; steps: number; poison?: Set<number>; logEvery?: number; maxNonFinite?: number; cond?: boolean; registry?: boolean }) {
  const policy = new DenseDenoiser(SHAPE, 6, opts.cond ? 3 : 0, 7);
  const data = new ArrayPairSource(8, SHAPE, 3, opts.poison);
  const trainer = new PreferenceTrainer({
    policy,
    data,
    schedule: linearSchedule(100),
    loss: opts.registry ? undefined : testDpoLoss,
    conditioner: opts.cond ? hashConditioner(3) : undefined,
    config: {
      maxSteps: opts.steps,
      batchSize: opts.batchSize,
      gradientAccumulation: opts.accum,
      loss: { name: opts.registry ? 'diffusion-dpo' : 'test-dpo', options: { beta: 50 } },
      optimizer: { lr: 1e-2, weightDecay: 0.1 },
      maxGradNorm: 0.5,
      logEvery: opts.logEvery ?? 1,
      maxNonFiniteSteps: opts.maxNonFinite ?? 5,
      seed: 11,
    },
  });
  return { policy, data, trainer };
}

beforeAll(async () => {
  await tf.setBackend('wasm');
});

describe('PreferenceTrainer', () => {
  it('gives the same weights for batch 8 x 1 and batch 1 x accumulation 8', async () => {
    const a = makeTrainer({ batchSize: 8, accum: 1, steps: 3, cond: true });
    const b = makeTrainer({ batchSize: 1, accum: 8, steps: 3, cond: true });
    const before = a.policy.flatWeights();
    await a.trainer.train();
    await b.trainer.train();
    const wa = a.policy.flatWeights();
    const wb = b.policy.flatWeights();
    expect(maxAbsDiff(before, wa)).toBeGreaterThan(1e-3); // training moved the weights
    expect(maxAbsDiff(wa, wb)).toBeLessThan(2e-5);
    // and a different split of the same 8 pairs differs from a different effective batch
    const c = makeTrainer({ batchSize: 4, accum: 1, steps: 3, cond: true });
    await c.trainer.train();
    expect(maxAbsDiff(wa, c.policy.flatWeights())).toBeGreaterThan(1e-4);
    for (const x of [a, b, c]) {
      x.trainer.dispose();
      x.policy.dispose();
    }
  });

  it('lowers the DPO loss and raises reward accuracy on a fixed batch', async () => {
    const { trainer, policy } = makeTrainer({ batchSize: 8, accum: 1, steps: 30, logEvery: 10 });
    const losses: number[] = [];
    await trainer.train((e) => {
      if (e.type === 'step' && e.metrics) losses.push(e.metrics.loss);
    });
    expect(losses).toHaveLength(3);
    expect(losses[0]).toBeLessThan(Math.log(2) + 0.05); // starts near ln 2 (policy = reference)
    expect(losses[2]).toBeLessThan(losses[0]);
    trainer.dispose();
    policy.dispose();
  });

  it('skips non-finite steps without touching the weights, counts them, and stops after N', async () => {
    // micro-batch calls 1 and 2 carry a NaN: steps 2 and 3 are skipped
    const { trainer, policy } = makeTrainer({ batchSize: 2, accum: 1, steps: 10, poison: new Set([1, 2, 4]), maxNonFinite: 3 });
    const snapshots: Float32Array[] = [policy.flatWeights()];
    const events: TrainerEvent[] = [];
    const result = await trainer.train((e) => {
      events.push(e);
      if (e.type === 'step') snapshots.push(policy.flatWeights());
    });
    expect(maxAbsDiff(snapshots[0], snapshots[1])).toBeGreaterThan(0); // step 1 applied
    expect(maxAbsDiff(snapshots[1], snapshots[2])).toBe(0); // step 2 skipped
    expect(maxAbsDiff(snapshots[2], snapshots[3])).toBe(0); // step 3 skipped
    expect(maxAbsDiff(snapshots[3], snapshots[4])).toBeGreaterThan(0); // step 4 applied
    expect(result.reason).toBe('non-finite');
    expect(result.step).toBe(5); // the third bad step (5) reached the limit
    expect(result.nonFiniteSteps).toBe(3);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.type === 'step' && e.metrics?.non_finite_steps)).toEqual([0, 1, 2, 2, 3]);
    for (const e of steps) if (e.type === 'step') expect(Number.isFinite(e.metrics?.loss ?? NaN) || e.metrics?.non_finite_steps !== undefined).toBe(true);
    expect(events.at(-1)).toMatchObject({ type: 'done', reason: 'non-finite', nonFiniteSteps: 3 });
    trainer.dispose();
    policy.dispose();
  });

  it('keeps tf.memory().numTensors flat across steps', async () => {
    const start = tf.memory().numTensors;
    const { trainer, policy } = makeTrainer({ batchSize: 2, accum: 2, steps: 8, logEvery: 3, cond: true, registry: true });
    const counts: number[] = [];
    await trainer.train((e) => {
      if (e.type === 'step') counts.push(tf.memory().numTensors);
    });
    // interval buffers exist between logs; compare steps at the same phase of the log cycle
    expect(counts[4]).toBe(counts[1]);
    expect(counts[6]).toBe(counts[3]);
    expect(counts[7]).toBe(counts[2]); // last step: metrics read, interval buffers freed
    expect(counts[5]).toBe(counts[2]);
    trainer.dispose();
    policy.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('emits step events with increasing steps and ends with done', async () => {
    const policy = new DenseDenoiser(SHAPE, 4, 0, 1);
    const evals: number[] = [];
    const trainer = new PreferenceTrainer({
      policy,
      data: new ArrayPairSource(4, SHAPE, 2),
      schedule: linearSchedule(50),
      loss: testDpoLoss,
      evaluate: ({ step }) => {
        evals.push(step);
        return { score: step * 2 };
      },
      config: { maxSteps: 5, batchSize: 2, logEvery: 2, evalEvery: 2, loss: { name: 'test-dpo' } },
    });
    const events: TrainerEvent[] = [];
    for await (const e of trainer.run()) events.push(e);
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4, 5]);
    expect(steps.map((e) => (e.type === 'step' ? e.metrics !== undefined : null))).toEqual([false, true, false, true, true]);
    const logged = steps[1].type === 'step' ? steps[1].metrics : undefined;
    expect(Object.keys(logged ?? {}).sort()).toEqual(
      ['grad_norm', 'loss', 'lr', 'non_finite_steps', 'rewards/accuracies', 'rewards/chosen', 'rewards/margins', 'rewards/rejected'].sort(),
    );
    expect(events.filter((e) => e.type === 'eval')).toEqual([
      { type: 'eval', step: 2, metrics: { score: 4 } },
      { type: 'eval', step: 4, metrics: { score: 8 } },
      { type: 'eval', step: 5, metrics: { score: 10 } },
    ]);
    expect(evals).toEqual([2, 4, 5]);
    expect(events.at(-1)).toMatchObject({ type: 'done', step: 5, reason: 'completed' });
    expect(events.filter((e) => e.type === 'done')).toHaveLength(1);
    trainer.dispose();
    policy.dispose();
  });

  it('evaluates the loss without updating: ln 2 and accuracy 1/2 while policy equals reference', async () => {
    const { trainer, policy, data } = makeTrainer({ batchSize: 4, accum: 1, steps: 2, cond: true });
    const before = policy.flatWeights();
    const m0 = await trainer.evaluateLoss(data, 2, 'eval');
    expect(m0.loss).toBeCloseTo(Math.log(2), 6);
    expect(m0['rewards/accuracies']).toBe(0.5);
    expect(m0['rewards/margins']).toBe(0);
    expect(policy.flatWeights()).toEqual(before);
    await trainer.train();
    const m1 = await trainer.evaluateLoss(data, 2, 'eval');
    expect(m1.loss).not.toBeCloseTo(Math.log(2), 4);
    trainer.dispose();
    policy.dispose();
  });

  it('resolves losses from the registry by name: diffusion-dpo matches the written-out formula', async () => {
    const a = makeTrainer({ batchSize: 4, accum: 1, steps: 3, cond: true });
    const policy = new DenseDenoiser(SHAPE, 6, 3, 7);
    const b = new PreferenceTrainer({
      policy,
      data: new ArrayPairSource(8, SHAPE, 3),
      schedule: linearSchedule(100),
      conditioner: hashConditioner(3),
      config: { ...a.trainer.config, loss: { name: 'diffusion-dpo', options: { beta: 50 } }, outputDir: undefined },
    });
    await a.trainer.train();
    const r = await b.train();
    expect(maxAbsDiff(a.policy.flatWeights(), policy.flatWeights())).toBeLessThan(1e-6);
    expect(Object.keys(r.metrics ?? {})).toEqual(expect.arrayContaining(['rewards/accuracies', 'rewards/margins', 'loss/policy', 'loss/ref']));
    for (const t of [a.trainer, b]) t.dispose();
    a.policy.dispose();
    policy.dispose();
  });

  it('conditions each side on its own caption for DCPO', async () => {
    const policy = new DenseDenoiser(SHAPE, 6, 3, 7);
    const seen: string[][] = [];
    const enc = hashConditioner(3);
    const data = new ArrayPairSource(4, SHAPE, 3);
    const source = {
      next: (n: number) => ({ ...data.next(n), captionChosen: ['a red circle', 'a blue square'], captionRejected: ['a red square', 'a blue circle'] }),
      getState: () => data.getState(),
      setState: (s: never) => data.setState(s),
    };
    const t = new PreferenceTrainer({
      policy,
      data: source,
      schedule: linearSchedule(100),
      conditioner: (p) => (seen.push([...p]), enc(p)),
      config: { maxSteps: 1, batchSize: 2, loss: { name: 'dcpo' } },
    });
    await t.train();
    expect(seen).toEqual([
      ['a red circle', 'a blue square'],
      ['a red square', 'a blue circle'],
    ]);
    t.dispose();
    expect(() => new PreferenceTrainer({ policy, data, schedule: linearSchedule(10), config: { maxSteps: 1, loss: { name: 'dpo2' } } })).toThrow(
      /Unknown loss "dpo2". Expected one of: diffusion-dpo, /,
    );
    policy.dispose();
  });

  it('trains the same with precomputed reference errors as with the frozen copy (fixed noise and timesteps)', async () => {
    const schedule = linearSchedule(100);
    const base = new DenseDenoiser(SHAPE, 6, 0, 4);
    const frozen = base.cloneFrozen();
    const pairs = new ArrayPairSource(4, SHAPE, 8);
    const fixed = (withRef: boolean) => ({
      next(n: number) {
        const b = pairs.next(n);
        const noise = tf.randomNormal([n, ...SHAPE], 0, 1, 'float32', 5);
        const timesteps = Array.from({ length: n }, (_, i) => 10 + 20 * i);
        if (!withRef) return { ...b, noise, timesteps };
        const [refChosenError, refRejectedError] = tf.tidy(() => {
          const x0 = tf.concat([b.chosen, b.rejected]);
          const eps = tf.concat([noise, noise]);
          const ts = [...timesteps, ...timesteps];
          const pred = frozen.predict(schedule.addNoise(x0, eps, ts), tf.tensor1d(ts), undefined);
          return tf.split(tf.mean(tf.squaredDifference(pred, eps), [1, 2, 3]), 2);
        });
        return { ...b, noise, timesteps, refChosenError, refRejectedError };
      },
      getState: () => pairs.getState(),
      setState: (st: never) => pairs.setState(st),
    });
    const run = async (reference: 'frozen' | 'precomputed') => {
      pairs.cursor = 0;
      const policy = new DenseDenoiser(SHAPE, 6, 0, 4);
      const t = new PreferenceTrainer({ policy, data: fixed(reference === 'precomputed'), schedule, loss: testDpoLoss, config: { maxSteps: 3, batchSize: 2, reference, loss: { name: 'test-dpo', options: { beta: 40 } }, optimizer: { lr: 1e-2 } } });
      expect(t.reference === undefined).toBe(reference === 'precomputed');
      await t.train();
      const w = policy.flatWeights();
      t.dispose();
      policy.dispose();
      return w;
    };
    const wf = await run('frozen');
    const wp = await run('precomputed');
    expect(maxAbsDiff(wf, wp)).toBeLessThan(1e-6);
    expect(maxAbsDiff(wf, base.flatWeights())).toBeGreaterThan(1e-4);
    const noRef = new PreferenceTrainer({ policy: base, data: pairs, schedule, loss: testDpoLoss, config: { maxSteps: 1, batchSize: 2, reference: 'precomputed' } });
    await expect(noRef.train()).rejects.toThrow(/reference is "precomputed" but the batch carries no refChosenError\/refRejectedError/);
    noRef.dispose();
    base.dispose();
    frozen.dispose();
  });

  it('stops exactly at N skipped steps even between log intervals (host write-back knows at once)', async () => {
    const { trainer, policy } = makeTrainer({ batchSize: 2, accum: 1, steps: 20, poison: new Set([2, 3]), maxNonFinite: 2, logEvery: 10 });
    const logged: number[] = [];
    const result = await trainer.train((e) => {
      if (e.type === 'step' && e.metrics) logged.push(e.step);
    });
    expect(result).toMatchObject({ reason: 'non-finite', step: 4, nonFiniteSteps: 2 });
    expect(logged).toEqual([3, 4]);
    trainer.dispose();
    policy.dispose();
  });

  it('averages each logged metric over the steps where it was finite', async () => {
    let calls = 0;
    const nanMetricLoss = {
      ...testDpoLoss,
      compute(inputs: Parameters<typeof testDpoLoss.compute>[0], options: { beta: number }) {
        const out = testDpoLoss.compute(inputs, options);
        calls++;
        return { loss: out.loss, metrics: { ...out.metrics, sometimes: tf.scalar(calls % 2 === 0 ? Number.NaN : calls) } };
      },
    };
    const policy = new DenseDenoiser(SHAPE, 4, 0, 1);
    const t = new PreferenceTrainer({ policy, data: new ArrayPairSource(4, SHAPE, 2), schedule: linearSchedule(50), loss: nanMetricLoss, config: { maxSteps: 4, batchSize: 2, logEvery: 4 } });
    const r = await t.train();
    expect(r.metrics?.sometimes).toBe((1 + 3) / 2); // calls 2 and 4 gave NaN and are left out
    expect(Number.isFinite(r.metrics?.loss)).toBe(true);
    t.dispose();
    policy.dispose();
  });

  it('stops early on stop() with reason stopped', async () => {
    const { trainer, policy } = makeTrainer({ batchSize: 2, accum: 1, steps: 10 });
    const result = await trainer.train((e) => {
      if (e.type === 'step' && e.step === 3) trainer.stop();
    });
    expect(result).toMatchObject({ step: 3, reason: 'stopped' });
    trainer.dispose();
    policy.dispose();
  });

  it('rejects bad loss options and shapes with readable errors', async () => {
    const policy = new DenseDenoiser(SHAPE, 4, 0, 1);
    const base = { policy, data: new ArrayPairSource(4, SHAPE, 2), schedule: linearSchedule(50), loss: testDpoLoss };
    expect(() => new PreferenceTrainer({ ...base, config: { maxSteps: 1, loss: { name: 'x', options: { beta: -1 } } } })).toThrow(
      /Invalid options for loss "test-dpo":\n {2}- loss\.options\.beta: /,
    );
    expect(() => new PreferenceTrainer({ ...base, config: { maxSteps: 0 } })).toThrow(/maxSteps/);
    const t = new PreferenceTrainer({ ...base, data: new ArrayPairSource(4, [2, 2, 1], 2), config: { maxSteps: 1, batchSize: 2 } });
    await expect(t.train()).rejects.toThrow(/shape|\[2, 2, 2, 1\]/i);
    t.dispose();
    policy.dispose();
  });
});
