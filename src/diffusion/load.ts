/**
 * `loadDenoiser`: rebuild any registered denoiser from a folder written by `save()`.
 * @module
 */
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { CheckpointError } from '../errors.js';
import type { Denoiser, DenoiserConfig } from './denoiser.js';
import { CONFIG_FILE, WEIGHTS_FILE } from './param-denoiser.js';
import { denoiserKinds, denoiserLoader } from './registry.js';
import * as tf from '@tensorflow/tfjs';
import { readSafetensors } from '../core/safetensors.js';
import './tiny-unet.js';
import './tiny-video-unet.js';
import './layers-adapter.js';

/**
 * Load a denoiser saved with `save(dir)`: reads `config.json` (its `kind` picks the class) and
 * `model.safetensors`.
 * @param dir - the folder.
 * @param opts - `trainable` (default true; false gives a frozen model, e.g. a reference).
 * @returns the model with the saved weights.
 * @throws {CheckpointError} for a missing or malformed file, an unknown kind, or weights that do
 *   not fit the config.
 * @example
 * await policy.save('runs/x/ckpt');
 * const again = await loadDenoiser('runs/x/ckpt');
 */
export async function loadDenoiser(dir: string, opts: { trainable?: boolean } = {}): Promise<Denoiser> {
  let config: DenoiserConfig;
  const cfgPath = join(dir, CONFIG_FILE);
  try {
    config = JSON.parse(await fs.readFile(cfgPath, 'utf8'));
  } catch (e) {
    throw new CheckpointError(`Cannot read denoiser config ${cfgPath}: ${(e as Error).message}.`, { path: cfgPath, cause: e });
  }
  const loader = config && typeof config.kind === 'string' ? denoiserLoader(config.kind) : undefined;
  if (!loader) {
    throw new CheckpointError(`Unknown denoiser kind ${JSON.stringify(config?.kind)} in ${cfgPath}. Known kinds: ${denoiserKinds().join(', ')} (registerDenoiserKind adds more).`, { path: cfgPath });
  }
  const { tensors } = await readSafetensors(join(dir, WEIGHTS_FILE));
  try {
    return await loader(config, tensors, { dir, trainable: opts.trainable ?? true });
  } catch (e) {
    if (e instanceof CheckpointError) throw new CheckpointError(`${e.message} (loading ${dir})`, { path: dir, cause: e });
    throw e;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}
