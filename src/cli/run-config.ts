/**
 * The `prefkit train` / `prefkit eval` run file (JSON or YAML): model, schedule, data, optional
 * conditioner and encoder plug-ins, and the trainer configuration. Paths resolve relative to the file.
 * @module
 */
import path from 'node:path';
import { z } from 'zod';
import { PairDataset, readPairManifest, type Encoder } from '../data/index.js';
import { createSchedule, loadDenoiser, type Denoiser, type NoiseSchedule } from '../diffusion/index.js';
import { ConfigError, isConfigError, parseWithSchema } from '../errors.js';
import { resolveLoss } from '../losses/index.js';
import { trainerConfigSchema } from '../train/config.js';
import type { Conditioner } from '../train/types.js';
import { loadConfigFile, loadModuleRef, type ModuleRef } from './config-file.js';

const moduleRefSchema = z
  .object({
    module: z.string().min(1),
    export: z.string().min(1).optional(),
    options: z.unknown().optional(),
  })
  .strict();

/** Schema of a run file. */
export const runFileSchema = z
  .object({
    /** The policy to tune: a folder written by `Denoiser.save` (or a checkpoint), or a plug-in returning a Denoiser. */
    model: z.union([z.object({ dir: z.string().min(1) }).strict(), moduleRefSchema]),
    /** Noise schedule config (diffusers keys, e.g. num_train_timesteps, beta_schedule, prediction_type). */
    schedule: z.record(z.string(), z.unknown()).default({}),
    /** Preference pairs. */
    data: z
      .object({
        /** Pair manifest (JSONL). */
        manifest: z.string().min(1),
        /** Image size the manifest's images are decoded to: a number or [height, width]. */
        size: z.union([z.number().int().positive(), z.tuple([z.number().int().positive(), z.number().int().positive()])]),
        /** Shuffle each epoch (default true). */
        shuffle: z.boolean().default(true),
        /** Seed of the shuffles (default: the trainer seed). */
        seed: z.union([z.number().int(), z.string()]).optional(),
        /** Images to latents: a plug-in returning a data `Encoder` (default: pixels). */
        encoder: moduleRefSchema.optional(),
      })
      .strict(),
    /** Prompts to conditioning: a plug-in returning `(prompts) => Conditioning` (default: unconditional). */
    conditioner: moduleRefSchema.optional(),
    /** Trainer configuration (see PreferenceTrainer). */
    trainer: trainerConfigSchema,
  })
  .strict();

/** A validated run file. */
export type RunFile = z.output<typeof runFileSchema>;

/** Everything a run file builds. */
export interface RunSetup {
  file: RunFile;
  /** Directory of the run file (relative paths resolve here). */
  baseDir: string;
  policy: Denoiser;
  schedule: NoiseSchedule;
  data: PairDataset;
  conditioner?: Conditioner;
}

/**
 * Read and validate a run file, applying CLI overrides to the trainer section.
 * @param file - path of the JSON/YAML file.
 * @param overrides - trainer keys set from flags (e.g. maxSteps, outputDir).
 * @throws {ConfigError} naming the file, the field and what is accepted.
 */
export async function readRunFile(file: string, overrides: Record<string, unknown> = {}): Promise<RunFile> {
  const raw = await loadConfigFile(file);
  if (raw && typeof raw === 'object' && !Array.isArray(raw)) {
    const r = raw as Record<string, unknown>;
    const trainer = r.trainer && typeof r.trainer === 'object' ? (r.trainer as Record<string, unknown>) : {};
    const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
    if (Object.keys(defined).length) r.trainer = { ...trainer, ...defined };
  }
  const parsed = parseWithSchema(runFileSchema, raw, `run file ${file}`);
  try {
    resolveLoss(parsed.trainer.loss.name, parsed.trainer.loss.options);
  } catch (e) {
    if (isConfigError(e)) throw new ConfigError(`Invalid run file ${file}: trainer.loss: ${e.message}`, { issues: e.issues, source: file });
    throw e;
  }
  return parsed;
}

/**
 * Build model, schedule, dataset and plug-ins from a validated run file.
 * @param file - the validated run file.
 * @param baseDir - directory relative paths resolve against.
 */
export async function buildRun(file: RunFile, baseDir: string): Promise<RunSetup> {
  const policy =
    'dir' in file.model ? await loadDenoiser(path.resolve(baseDir, file.model.dir)) : await loadModuleRef<Denoiser>(file.model as ModuleRef, baseDir, 'model');
  const schedule = createSchedule(file.schedule);
  const encoder = file.data.encoder ? await loadModuleRef<Encoder>(file.data.encoder as ModuleRef, baseDir, 'encoder') : undefined;
  const manifest = await readPairManifest(path.resolve(baseDir, file.data.manifest));
  const data = await PairDataset.fromManifest(manifest, { size: file.data.size, encoder }, {
    batchSize: file.trainer.batchSize,
    seed: file.data.seed ?? file.trainer.seed,
    shuffle: file.data.shuffle,
  });
  const conditioner = file.conditioner ? await loadModuleRef<Conditioner>(file.conditioner as ModuleRef, baseDir, 'conditioner') : undefined;
  return { file, baseDir, policy, schedule, data, conditioner };
}
