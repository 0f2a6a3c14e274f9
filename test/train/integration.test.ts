import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/index.js';
import { createRng } from '../../src/core/random.js';
import { PairDataset } from '../../src/data/index.js';
import { createSchedule, loadDenoiser, TinyUNet, TinyVideoUNet, type NoiseSchedule } from '../../src/diffusion/index.js';
import { getLoss, type LossSpec } from '../../src/losses/index.js';
import { PreferenceTrainer, type PairBatchSource, type TrainerEvent, type TrainerLoss, type TrainSchedule } from '../../src/train/index.js';

const work = mkdtempSync(path.join(tmpdir(), 'prefkit-int-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

function dataset(seed: number): PairDataset {
  const rng = createRng(seed);
  const n = 6;
  return PairDataset.fromTensors(
    {
      chosen: tf.tensor(rng.normalArray(n * 8 * 8 * 2), [n, 8, 8, 2]),
      rejected: tf.tensor(rng.normalArray(n * 8 * 8 * 2), [n, 8, 8, 2]),
      prompts: Array.from({ length: n }, (_, i) => `prompt ${i}`),
    },
    { batchSize: 2, seed: 'ds' },
  );
}

describe('PreferenceTrainer with the real pieces', () => {
  it('fits the contracts of PairDataset, NoiseSchedule, LossSpec and TinyUNet, trains, checkpoints and reloads', async () => {
    // compile-time contract checks: these assignments fail tsc if a contract drifts
    const source: PairBatchSource = dataset(1);
    const schedule: TrainSchedule = createSchedule({ num_train_timesteps: 100 }) as NoiseSchedule;
    const loss: TrainerLoss = getLoss('diffusion-dpo') as LossSpec;
    expect(loss.name).toBe('diffusion-dpo');

    const policy = new TinyUNet({ inChannels: 2, channels: [8, 16], groups: 4, embedDim: 16, timeFeatures: 8, pooledDim: 4, seed: 3 });
    const pooled = (prompts: readonly string[]) => ({ pooled: tf.tensor2d(prompts.flatMap((p) => Array.from(createRng(p).normalArray(4))), [prompts.length, 4]) });
    const outputDir = path.join(work, 'run');
    const trainer = new PreferenceTrainer({
      policy,
      data: source,
      schedule,
      conditioner: pooled,
      config: { maxSteps: 3, batchSize: 2, logEvery: 1, checkpointEvery: 3, outputDir, loss: { name: 'diffusion-dpo', options: { beta: 2000 } }, optimizer: { lr: 1e-3 } },
    });
    const start = tf.memory().numTensors;
    const events: TrainerEvent[] = [];
    await trainer.train((e) => void events.push(e));
    expect(events.map((e) => e.type)).toEqual(['step', 'step', 'step', 'checkpoint', 'done']);
    const ck = events.find((e) => e.type === 'checkpoint');
    const steps = events.filter((e) => e.type === 'step');
    for (const e of steps) if (e.type === 'step') expect(Number.isFinite(e.metrics?.loss)).toBe(true);
    expect(tf.memory().numTensors).toBeLessThanOrEqual(start + 3); // at most the interval buffers
    // a checkpoint folder is a loadable Denoiser folder
    const reloaded = await loadDenoiser((ck as { path: string }).path);
    const x = tf.randomNormal([1, 8, 8, 2]);
    const t = tf.tensor1d([10]);
    const c = pooled(['prompt 0']);
    const a = policy.predict(x, t, c);
    const b = reloaded.predict(x, t, c);
    expect(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]).toBe(0);
    tf.dispose([x, t, a, b, c.pooled]);
    reloaded.dispose();
    trainer.dispose();
    policy.dispose();
  });

  it('trains DenseDPO on video latents with per-segment labels (segment errors [B, F])', async () => {
    const rng = createRng(5);
    const n = 4;
    const shape = [4, 8, 8, 2]; // T, H, W, C
    const d = shape.reduce((a, b) => a * b, 1);
    const data = PairDataset.fromTensors(
      {
        chosen: tf.tensor(rng.normalArray(n * d), [n, ...shape]),
        rejected: tf.tensor(rng.normalArray(n * d), [n, ...shape]),
        prompts: Array.from({ length: n }, (_, i) => `clip ${i}`),
        segments: [
          [1, -1],
          [0, 1],
          [-1, -1],
          [1, 0],
        ],
      },
      { batchSize: 2, seed: 'v' },
    );
    const policy = new TinyVideoUNet({ inChannels: 2, channels: [8, 16], groups: 4, embedDim: 16, timeFeatures: 8, pooledDim: 0, seed: 2 });
    const trainer = new PreferenceTrainer({
      policy,
      data,
      schedule: createSchedule({ num_train_timesteps: 100 }),
      config: { maxSteps: 2, batchSize: 2, logEvery: 1, loss: { name: 'dense-dpo', options: { beta: 1000, segmentFrames: 2 } }, optimizer: { lr: 1e-3 } },
    });
    const losses: number[] = [];
    const r = await trainer.train((e) => {
      if (e.type === 'step' && e.metrics) losses.push(e.metrics.loss);
    });
    expect(r.reason).toBe('completed');
    expect(losses).toHaveLength(2);
    // policy = reference at step 1: every decisive segment has margin 0, loss ln 2
    expect(losses[0]).toBeCloseTo(Math.log(2), 5);
    expect(r.metrics?.['count/decisive']).toBeGreaterThan(0);
    trainer.dispose();
    policy.dispose();
  });
});
