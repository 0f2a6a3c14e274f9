/**
 * The bundled demo model: TinyUNet denoiser, tiny text encoder, tiny autoencoder and the noise
 * schedule, saved together in one folder (assets/t2i by default).
 * @module
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../diffusion/denoiser.js';
import { loadDenoiser } from '../diffusion/load.js';
import type { ScheduleConfigInput } from '../diffusion/schedules.js';
import { CheckpointError } from '../errors.js';
import { PatchAutoencoder } from './autoencoder.js';
import { TinyTextEncoder } from './text-encoder.js';

/** `bundle.json`: what the bundle holds and how it samples. */
export interface DemoBundleMeta {
  /** Image side in pixels. */
  imageSize: number;
  /** Latent side (imageSize / patch). */
  latentSize: number;
  /** Latent channels. */
  latentChannels: number;
  /** Noise schedule (diffusers keys). */
  schedule: ScheduleConfigInput;
  /** DDIM steps used by the demo. */
  samplingSteps: number;
  /** Share of pretraining captions replaced by a random caption (the base model's deliberate weakness). */
  captionNoise: number;
  /** Free-form provenance (seed, steps, wall time). */
  provenance?: Record<string, unknown>;
}

/** The loaded parts of the demo model. */
export interface DemoBundle {
  unet: Denoiser;
  textEncoder: TinyTextEncoder;
  autoencoder: PatchAutoencoder;
  meta: DemoBundleMeta;
}

/** File names inside a bundle folder. */
export const BUNDLE_FILES = { meta: 'bundle.json', unet: 'unet', textEncoder: 'text_encoder.safetensors', autoencoder: 'autoencoder.safetensors' } as const;

/** The packaged bundle folder (`<package root>/assets/t2i`). */
export function defaultBundleDir(): string {
  // src/demo/bundle.ts or dist/demo/bundle.js → package root is two folders up
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 't2i');
}

/**
 * Write a bundle folder.
 * @param dir - target folder (created).
 * @param bundle - the parts.
 */
export async function saveDemoBundle(dir: string, bundle: DemoBundle): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await bundle.unet.save(path.join(dir, BUNDLE_FILES.unet));
  await bundle.textEncoder.save(path.join(dir, BUNDLE_FILES.textEncoder));
  await bundle.autoencoder.save(path.join(dir, BUNDLE_FILES.autoencoder));
  await fs.writeFile(path.join(dir, BUNDLE_FILES.meta), JSON.stringify(bundle.meta, null, 2) + '\n');
}

/**
 * Load a bundle folder written by {@link saveDemoBundle} (default: the packaged assets).
 * @param dir - the folder.
 * @returns the parts; the UNet is trainable.
 * @throws {CheckpointError} when a file is missing or malformed.
 */
export async function loadDemoBundle(dir: string = defaultBundleDir()): Promise<DemoBundle> {
  let meta: DemoBundleMeta;
  const metaPath = path.join(dir, BUNDLE_FILES.meta);
  try {
    meta = JSON.parse(await fs.readFile(metaPath, 'utf8')) as DemoBundleMeta;
  } catch (e) {
    throw new CheckpointError(`Cannot read the demo bundle ${metaPath}: ${(e as Error).message}. Run \`npm run build:assets\` to rebuild assets/t2i.`, { path: metaPath, cause: e });
  }
  const unet = await loadDenoiser(path.join(dir, BUNDLE_FILES.unet));
  const textEncoder = await TinyTextEncoder.load(path.join(dir, BUNDLE_FILES.textEncoder));
  const autoencoder = await PatchAutoencoder.load(path.join(dir, BUNDLE_FILES.autoencoder));
  return { unet, textEncoder, autoencoder, meta };
}

/** Free every tensor of a bundle. */
export function disposeDemoBundle(b: DemoBundle): void {
  b.unet.dispose();
  b.textEncoder.dispose();
  b.autoencoder.dispose();
  void tf;
}
