/**
 * `prefkit sample --model dir --prompt "..."`: generate images with a denoiser and save a grid.
 * @module
 */
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command, InvalidArgumentError } from 'commander';
import { initEngine, type EngineBackendRequest } from '../../core/index.js';
import type { Encoder } from '../../data/index.js';
import { loadDenoiser, sample, type Conditioning, type ScheduleConfigInput } from '../../diffusion/index.js';
import { ConfigError } from '../../errors.js';
import { imageGrid } from '../../image/index.js';
import type { Conditioner } from '../../train/types.js';
import { loadConfigFile, loadModuleRef } from '../config-file.js';
import { finiteNumber, nonNegativeInt, positiveInt } from '../options.js';
import { promises as fsp } from 'node:fs';

interface SampleFlags {
  model: string;
  prompt?: string[];
  n: number;
  size: [number, number, number];
  steps: number;
  guidance: number;
  eta: number;
  seed: number;
  schedule?: string;
  conditioner?: string;
  decoder?: string;
  out: string;
}

function parseSize(value: string): [number, number, number] {
  const parts = value.split(/[x,]/).map((p) => Number(p));
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new InvalidArgumentError(`Expected HxWxC with positive integers (e.g. 16x16x4), got "${value}".`);
  }
  return parts as [number, number, number];
}

/**
 * Add `sample` to a commander program.
 * @param program - the root command.
 * @param backend - the engine backend chosen by the global `--backend` flag.
 */
export function registerSampleCommand(program: Command, backend: () => EngineBackendRequest): Command {
  return program
    .command('sample')
    .description('Generate samples with a denoiser (a saved model or a checkpoint) and write them as a PNG grid.')
    .requiredOption('-m, --model <dir>', 'model or checkpoint folder (config.json + model.safetensors)')
    .requiredOption('--size <HxWxC>', 'sample shape the model works on, e.g. 16x16x4 (latents) or 32x32x3 (pixels)', parseSize)
    .option('-p, --prompt <text...>', 'prompts (one row of samples each); needs --conditioner')
    .option('-n, --n <count>', 'samples per prompt', positiveInt, 4)
    .option('--steps <n>', 'sampler steps', positiveInt, 25)
    .option('--guidance <w>', 'classifier-free guidance scale (1 = none)', finiteNumber, 1)
    .option('--eta <eta>', 'DDIM eta (0 = deterministic)', finiteNumber, 0)
    .option('--seed <seed>', 'seed of the initial noise', nonNegativeInt, 0)
    .option('--schedule <file>', 'noise schedule config, JSON or YAML (diffusers keys); default DDIM defaults')
    .option('--conditioner <module>', 'module whose default export makes a (prompts) => Conditioning function')
    .option('--decoder <module>', 'module whose default export makes an Encoder; its decode() turns latents into images')
    .option('-o, --out <file>', 'PNG grid to write', 'samples.png')
    .action(async (flags: SampleFlags) => {
      const [H, W, C] = flags.size;
      if (flags.prompt && !flags.conditioner) {
        throw new ConfigError('--prompt needs --conditioner <module> to turn prompts into conditioning (or drop --prompt for unconditional samples).', {
          source: '--prompt',
        });
      }
      if (!flags.decoder && C !== 1 && C !== 3) {
        throw new ConfigError(`--size has ${C} channels: images need 1 or 3, so pass --decoder <module> to decode latents.`, { source: '--size' });
      }
      const schedule = flags.schedule ? ((await loadConfigFile(flags.schedule)) as ScheduleConfigInput) : undefined;
      await initEngine({ backend: backend() });
      const cwd = process.cwd();
      const conditioner = flags.conditioner ? await loadModuleRef<Conditioner>({ module: flags.conditioner }, cwd, 'conditioner') : undefined;
      const decoder = flags.decoder ? await loadModuleRef<Encoder>({ module: flags.decoder }, cwd, 'decoder') : undefined;
      const model = await loadDenoiser(path.resolve(flags.model), { trainable: false });
      const prompts = flags.prompt ?? [''];
      const rows: tf.Tensor[] = [];
      try {
        for (const [i, p] of prompts.entries()) {
          const cond: Conditioning | undefined = conditioner ? conditioner(Array.from({ length: flags.n }, () => p)) : undefined;
          const x0 = sample(model, { shape: [flags.n, H, W, C], cond, guidanceScale: flags.guidance, steps: flags.steps, eta: flags.eta, seed: flags.seed + i, schedule });
          if (cond) tf.dispose(Object.values(cond).filter((t): t is tf.Tensor => t instanceof tf.Tensor));
          const img = decoder ? tf.tidy(() => decoder.decode(x0 as tf.Tensor4D)) : x0;
          if (img !== x0) x0.dispose();
          rows.push(img);
        }
        const all = tf.concat(rows, 0);
        const png = await imageGrid(all, { cols: flags.n });
        all.dispose();
        await fsp.mkdir(path.dirname(path.resolve(flags.out)), { recursive: true });
        await fsp.writeFile(flags.out, png);
        process.stdout.write(`${flags.out}\n`);
      } finally {
        tf.dispose(rows);
        model.dispose();
      }
    });
}
