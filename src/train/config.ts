/**
 * The trainer's configuration, validated with zod at the edge (files, CLI flags, constructor).
 * @module
 */
import { z } from 'zod';
import { parseWithSchema } from '../errors.js';

/** AdamW hyper-parameters (torch.optim.AdamW semantics: decoupled weight decay, bias correction). */
export const adamWConfigSchema = z
  .object({
    /** Peak learning rate. */
    lr: z.number().positive().default(1e-4),
    /** First-moment decay β1. */
    beta1: z.number().min(0).lt(1).default(0.9),
    /** Second-moment decay β2. */
    beta2: z.number().min(0).lt(1).default(0.999),
    /** Denominator epsilon. */
    eps: z.number().positive().default(1e-8),
    /** Decoupled weight decay (torch default 0.01). */
    weightDecay: z.number().min(0).default(0.01),
  })
  .strict();

/** Learning-rate schedule after warm-up (Hugging Face `get_scheduler` semantics). */
export const lrScheduleConfigSchema = z
  .object({
    /** `constant`, `linear` decay to 0 at maxSteps, or half-cosine decay to 0 at maxSteps. */
    kind: z.enum(['constant', 'linear', 'cosine']).default('constant'),
    /** Linear warm-up steps from 0 to the peak rate. */
    warmupSteps: z.number().int().min(0).default(0),
  })
  .strict();

/** Full trainer configuration. */
export const trainerConfigSchema = z
  .object({
    /** The loss: a name from the losses registry and its options. */
    loss: z
      .object({
        name: z.string().min(1).default('diffusion-dpo'),
        options: z.record(z.string(), z.unknown()).default({}),
      })
      .strict()
      .prefault({}),
    optimizer: adamWConfigSchema.prefault({}),
    lrSchedule: lrScheduleConfigSchema.prefault({}),
    /** Optimizer steps to run. */
    maxSteps: z.number().int().positive(),
    /** Pairs per micro-batch. */
    batchSize: z.number().int().positive().default(4),
    /** Micro-batches per optimizer step; the effective batch is batchSize × gradientAccumulation. */
    gradientAccumulation: z.number().int().positive().default(1),
    /** Clip the global gradient L2 norm to this value (torch clip_grad_norm_); null turns it off. */
    maxGradNorm: z.number().positive().nullable().default(1),
    /** Stop with an error once this many steps had a non-finite loss or gradient (they are skipped). */
    maxNonFiniteSteps: z.number().int().min(1).default(5),
    /** Seed of the trainer's RNG (timesteps and noise). */
    seed: z.union([z.number().int(), z.string()]).default(0),
    /** `frozen`: a frozen copy of the initial policy; `precomputed`: errors carried by each batch. */
    reference: z.enum(['frozen', 'precomputed']).default('frozen'),
    /** Frames per segment for segment losses (DenseDPO). */
    segmentFrames: z.number().int().positive().optional(),
    /** Read metrics from the device every N steps (the only sync points). */
    logEvery: z.number().int().positive().default(10),
    /** Run the evaluation hook every N steps (0 = never). */
    evalEvery: z.number().int().min(0).default(0),
    /** Write a checkpoint every N steps (0 = only at the end when outputDir is set). */
    checkpointEvery: z.number().int().min(0).default(0),
    /** Checkpoints to keep (oldest removed first). */
    keepLastCheckpoints: z.number().int().positive().default(3),
    /** Where metrics.jsonl and checkpoints/ go; nothing is written when absent. */
    outputDir: z.string().optional(),
  })
  .strict();

/** Trainer configuration as written by users (defaults optional). */
export type TrainerConfigInput = z.input<typeof trainerConfigSchema>;
/** Trainer configuration after validation, every default filled in. */
export type TrainerConfig = z.output<typeof trainerConfigSchema>;
/** AdamW options after validation. */
export type AdamWConfig = z.output<typeof adamWConfigSchema>;
/** LR schedule options after validation. */
export type LrScheduleConfig = z.output<typeof lrScheduleConfigSchema>;

/**
 * Validate a trainer configuration and fill in defaults.
 * @param value - the raw configuration (object from JSON/YAML or code).
 * @param source - where it came from, for the error message (a file path, 'trainer config').
 * @returns the validated configuration.
 * @throws {ConfigError} listing each bad field, what was got and what is accepted.
 * @example
 * const cfg = parseTrainerConfig({ maxSteps: 100, loss: { name: 'diffusion-dpo', options: { beta: 5000 } } });
 */
export function parseTrainerConfig(value: unknown, source = 'trainer config'): TrainerConfig {
  return parseWithSchema(trainerConfigSchema, value, source);
}
