/**
 * Pretrains the tiny video model of examples/video-dense-dpo: a `TinyVideoUNet` (ε-prediction,
 * pixel space, 16×16 RGB) on the moving-shapes world, seeded end to end, and writes
 *   assets/video/tiny-video-unet/{model.safetensors, config.json, scheduler_config.json, training.json}
 *   assets/video/base-samples.png   (8 samples, one per row, 20 DDIM steps)
 *
 *   npx tsx scripts/build-video-assets.ts [--steps 1000] [--out assets/video] [--threads N]
 *
 * It is deliberately short training: the base model should be imperfect (colour drift, shape
 * wobble, jitter) so that preference tuning has something to fix. PROVENANCE.md records the run.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { createRng, createSchedule, DDIMScheduler, frameStrip, initEngine, randomNormal, sample, TinyVideoUNet } from '../src/index.js';
import { sampleClips, WORLD } from '../examples/video-dense-dpo/world.js';

/** The model and schedule configs the example expects. */
export const MODEL_CONFIG = { inChannels: 3, channels: [16, 32], groups: 8, pooledDim: 0, timeFeatures: 16, embedDim: 32, temporalKernel: 3, seed: 'video-dense-dpo' };
export const SCHEDULE_CONFIG = { beta_schedule: 'squaredcos_cap_v2', num_train_timesteps: 1000, prediction_type: 'epsilon', clip_sample: true } as const;

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '1000' }, out: { type: 'string', default: 'assets/video' }, threads: { type: 'string' }, seed: { type: 'string', default: '7' } },
});
const steps = Number(values.steps);
const engine = await initEngine({ backend: 'wasm', threads: values.threads ? Number(values.threads) : undefined });
const schedule = createSchedule(SCHEDULE_CONFIG);
const model = new TinyVideoUNet(MODEL_CONFIG);
const rng = createRng(`pretrain:${values.seed}`);
const opt = tf.train.adam(1e-3);
const log: Array<{ step: number; loss: number; ms: number }> = [];
const t0 = performance.now();
let acc = 0;
let accN = 0;
for (let step = 1; step <= steps; step++) {
  // 32 frames per step: 8 clips x 4 frames (a random window) or 4 clips x 8 frames, alternating
  const [B, T] = step % 2 === 0 ? [8, 4] : [4, WORLD.frames];
  const { videos } = sampleClips(rng, B);
  const off = T < WORLD.frames ? rng.int(0, WORLD.frames - T + 1) : 0;
  const x0 = tf.tidy(() => videos.slice([0, off, 0, 0, 0], [B, T, WORLD.size, WORLD.size, 3]));
  videos.dispose();
  const noise = randomNormal(rng, x0.shape);
  const ts = Array.from({ length: B }, () => rng.int(0, schedule.numTrainTimesteps));
  const xt = schedule.addNoise(x0, noise, ts);
  const tt = tf.tensor1d(ts, 'float32');
  if (step === Math.round(steps * 0.75)) (opt as unknown as { learningRate: number }).learningRate = 3e-4; // anneal for the last quarter
  const loss = opt.minimize(() => tf.mean(tf.squaredDifference(model.predict(xt, tt), noise)) as tf.Scalar, true, model.trainableVariables)!;
  acc += (await loss.data())[0];
  accN++;
  tf.dispose([x0, noise, xt, tt, loss]);
  if (step % 25 === 0 || step === steps) {
    const ms = performance.now() - t0;
    log.push({ step, loss: acc / accN, ms: Math.round(ms) });
    console.log(`step ${step}/${steps}  loss ${(acc / accN).toFixed(4)}  ${(ms / 1000).toFixed(0)} s`);
    acc = 0;
    accN = 0;
  }
}
const dir = join(values.out!, 'tiny-video-unet');
await mkdir(dir, { recursive: true });
await model.save(dir);
await writeFile(join(dir, 'scheduler_config.json'), JSON.stringify(schedule.toJSON(), null, 2) + '\n');
const params = model.trainableVariables.reduce((a, v) => a + v.size, 0);
await writeFile(
  join(dir, 'training.json'),
  JSON.stringify({ script: 'scripts/build-video-assets.ts', steps, seed: values.seed, params, backend: engine.backend, threads: values.threads ?? 'default', seconds: Math.round((performance.now() - t0) / 1000), log }, null, 2) + '\n',
);
const samples = sample(model, { shape: [8, WORLD.frames, WORLD.size, WORLD.size, 3], steps: 20, seed: 'base-samples', scheduler: new DDIMScheduler(schedule) });
const rows = tf.unstack(samples);
await frameStrip(rows, { path: join(values.out!, 'base-samples.png'), gap: 1 });
tf.dispose([samples, ...rows]);
console.log(`wrote ${dir} (${params} parameters) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
