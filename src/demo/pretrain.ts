/**
 * Pretraining of the demo's base model on the procedural world (what `npm run build:assets` runs).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, randomNormal } from '../core/random.js';
import { createSchedule } from '../diffusion/noising.js';
import type { ScheduleConfigInput } from '../diffusion/schedules.js';
import { TinyUNet, type TinyUNetConfigInput } from '../diffusion/tiny-unet.js';
import { PatchAutoencoder } from './autoencoder.js';
import type { DemoBundle } from './bundle.js';
import { TinyTextEncoder } from './text-encoder.js';
import { allCaptions, worldBatch, WORLD_IMAGE_SIZE } from './world.js';

/** Options of {@link pretrainDemoBundle}. */
export interface PretrainOptions {
  /** Seed of everything (default 0). */
  seed?: number;
  /** Optimizer steps (default 1500). */
  steps?: number;
  /** Batch size (default 64). */
  batchSize?: number;
  /** Adam learning rate (default 2e-3, cosine-decayed to 10%). */
  lr?: number;
  /** Share of captions replaced by a random caption (default 0.35): the base model's weakness. */
  captionNoise?: number;
  /** UNet config overrides. */
  unet?: TinyUNetConfigInput;
  /** Called every `logEvery` steps with the mean loss. */
  onLog?: (step: number, loss: number, elapsedMs: number) => void;
  /** Log interval (default 50). */
  logEvery?: number;
}

/** The demo's noise schedule: diffusers' linear DDPM betas, epsilon prediction, no clipping. */
export const DEMO_SCHEDULE: ScheduleConfigInput = { num_train_timesteps: 1000, beta_schedule: 'linear', beta_start: 0.0001, beta_end: 0.02, clip_sample: false, prediction_type: 'epsilon' };

/** The demo UNet architecture (8x8x4 latents, pooled 32-d prompt vector). */
export const DEMO_UNET_CONFIG: TinyUNetConfigInput = { inChannels: 4, channels: [32, 32], groups: 8, embedDim: 64, timeFeatures: 32, pooledDim: 32, blocksPerLevel: 1, midBlocks: 1 };

/**
 * Build the demo model from scratch: fit the patch autoencoder, draw the text encoder, and train a
 * TinyUNet on the world's latents with epsilon-MSE, a share of captions replaced at random.
 * @param opts - see {@link PretrainOptions}.
 * @returns the bundle (caller disposes it).
 */
export async function pretrainDemoBundle(opts: PretrainOptions = {}): Promise<DemoBundle & { finalLoss: number }> {
  const seed = opts.seed ?? 0;
  const steps = opts.steps ?? 1500;
  const B = opts.batchSize ?? 64;
  const lr0 = opts.lr ?? 2e-3;
  const noiseShare = opts.captionNoise ?? 0.35;
  const logEvery = opts.logEvery ?? 50;
  const rng = createRng(seed);
  const fitImages = worldBatch(rng.split('ae'), 512).images;
  const autoencoder = PatchAutoencoder.fit(fitImages, 2, 4);
  fitImages.dispose();
  const textEncoder = TinyTextEncoder.random(`${seed}/text`, 32);
  const unet = new TinyUNet({ ...DEMO_UNET_CONFIG, seed, ...opts.unet });
  const schedule = createSchedule(DEMO_SCHEDULE);
  const captions = allCaptions();
  const dataRng = rng.split('data');
  const optimizer = tf.train.adam(lr0);
  const start = performance.now();
  let acc = 0;
  let accN = 0;
  let last = NaN;
  for (let step = 1; step <= steps; step++) {
    (optimizer as unknown as { learningRate: number }).learningRate = lr0 * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * (step - 1)) / steps)));
    const { images, captions: truth } = worldBatch(dataRng, B);
    const shown = truth.map((c) => (dataRng.uniform() < noiseShare ? captions[dataRng.int(0, captions.length)] : c));
    const t = Array.from({ length: B }, () => dataRng.int(0, schedule.numTrainTimesteps));
    const lossT = tf.tidy(() => {
      const x0 = autoencoder.encode(images);
      const eps = randomNormal(dataRng, x0.shape);
      const xt = schedule.addNoise(x0, eps, t);
      const tt = tf.tensor1d(t, 'float32');
      const cond = textEncoder.encode(shown);
      return optimizer.minimize(() => tf.mean(tf.squaredDifference(unet.predict(xt, tt, cond), eps)) as tf.Scalar, true, unet.trainableVariables)!;
    });
    images.dispose();
    acc += (await lossT.data())[0];
    lossT.dispose();
    accN++;
    if (step % logEvery === 0 || step === steps) {
      last = acc / accN;
      opts.onLog?.(step, last, performance.now() - start);
      acc = 0;
      accN = 0;
    }
  }
  optimizer.dispose();
  return {
    unet,
    textEncoder,
    autoencoder,
    finalLoss: last,
    meta: { imageSize: WORLD_IMAGE_SIZE, latentSize: WORLD_IMAGE_SIZE / 2, latentChannels: 4, schedule: DEMO_SCHEDULE, samplingSteps: 15, captionNoise: noiseShare },
  };
}
