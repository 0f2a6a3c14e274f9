/**
 * The loss registry: each loss by name, with its option schema (zod, with defaults), what it
 * needs (reference model, soft labels, segment labels, dual captions, unpaired data) and a
 * uniform `compute` over per-sample (or per-segment) denoising errors. The trainer and the CLI
 * choose losses by name and read these capabilities; nothing else tests names.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ConfigError, parseWithSchema } from '../errors.js';
import { dcpoLoss } from './dcpo.js';
import { denseDpoLoss } from './dense-dpo.js';
import { diffusionDpoLoss, type PairErrors } from './diffusion-dpo.js';
import { ktoLoss } from './kto.js';
import { LINKS } from './links.js';
import { mapoLoss } from './mapo.js';
import { sftLoss } from './sft.js';
import { smpoLoss } from './smpo.js';
import type { LossOutput } from './types.js';

/**
 * The uniform inputs of {@link LossSpec.compute}: denoising errors computed by the trainer with
 * {@link denoisingError} (`errorKind: 'sample'`, each `[B]`) or {@link segmentErrors}
 * (`errorKind: 'segment'`, each `[B, F]`). Policy errors come from inside the gradient tape,
 * reference errors from outside it.
 */
export type PairErrorInputs = {
  /** err_θ of the chosen samples `[B]` (`[B, F]` for segment losses). KTO: the desirable samples. */
  policyChosen: tf.Tensor;
  /** err_θ of the rejected samples `[B]` (`[B, F]`). KTO: the undesirable samples. */
  policyRejected: tf.Tensor;
  /** err_ref of the chosen samples (when `requires.reference`). */
  refChosen?: tf.Tensor;
  /** err_ref of the rejected samples (when `requires.reference`). */
  refRejected?: tf.Tensor;
  /** Soft label p ∈ [0, 1] per pair `[B]`, 1 = chosen preferred (when `requires.softLabels`). */
  preference?: tf.Tensor1D;
  /** Per-segment labels `[B, F]` in {+1, −1, 0} (when `requires.segmentLabels`); +1 = chosen (A) better. */
  segmentLabels?: tf.Tensor2D;
}

/** What a loss needs from the data and the trainer. */
export interface LossRequirements {
  /** A frozen reference model (refChosen / refRejected). */
  reference: boolean;
  /** A soft label per pair (`preference`). */
  softLabels?: boolean;
  /** Per-segment labels (`segmentLabels`). */
  segmentLabels?: boolean;
  /** Chosen and rejected conditioned on their own captions (DCPO). */
  dualCaptions?: boolean;
  /** Unpaired data: chosen = desirable, rejected = undesirable samples, not pairs. */
  unpaired?: boolean;
}

/** One registry entry. */
export interface LossSpec<S extends z.ZodType = z.ZodType> {
  /** The registry name, e.g. `'diffusion-dpo'`. */
  name: string;
  /** Paper citation with link. */
  paper: string;
  /** zod schema of the options, with defaults (parse `{}` to get them all). */
  schema: S;
  /** What the loss needs. */
  requires: LossRequirements;
  /** `'sample'`: errors `[B]` from {@link denoisingError}; `'segment'`: `[B, F]` from {@link segmentErrors}. */
  errorKind: 'sample' | 'segment';
  /** Compute the loss from errors and parsed options. Pure, synchronous, tidy. */
  compute(inputs: PairErrorInputs, options: z.output<S>): LossOutput;
}

const beta = (d: number) => z.number().positive().finite().default(d).describe('β');
const linkOptions = {
  link: z.enum(LINKS).default('sigmoid').describe('link: sigmoid | smoothed | robust | hinge | ipo'),
  labelSmoothing: z.number().min(0).max(1).default(0).describe('ε for smoothed (cDPO) and robust (rDPO)'),
  sftWeight: z.number().min(0).finite().default(0).describe('λ of an SFT term on the chosen samples'),
};
const linkRefine = (o: { link: string; labelSmoothing: number }, ctx: z.RefinementCtx) => {
  if (o.link === 'robust' && !(o.labelSmoothing < 0.5)) {
    ctx.addIssue({ code: 'custom', path: ['labelSmoothing'], message: `link "robust" needs labelSmoothing in [0, 0.5), got ${o.labelSmoothing}` });
  }
};

function need<T>(v: T | undefined, name: string, loss: string, why: string): T {
  if (v === undefined || v === null) throw new ConfigError(`Loss '${loss}' needs input '${name}' (${why}), but it was not given.`);
  return v;
}

function paired(inputs: PairErrorInputs, loss: string): PairErrors {
  return {
    policyChosen: inputs.policyChosen as tf.Tensor1D,
    policyRejected: inputs.policyRejected as tf.Tensor1D,
    refChosen: need(inputs.refChosen, 'refChosen', loss, 'reference errors') as tf.Tensor1D,
    refRejected: need(inputs.refRejected, 'refRejected', loss, 'reference errors') as tf.Tensor1D,
  };
}

const diffusionDpoSchema = z.strictObject({ beta: beta(5000), ...linkOptions }).superRefine(linkRefine);
const dcpoSchema = z.strictObject({ beta: beta(500), ...linkOptions }).superRefine(linkRefine);
const smpoSchema = z.strictObject({
  beta: beta(2000),
  scale: z.number().positive().finite().default(10).describe('k on (2p − 1); 10 as the official code, 1 for the paper form'),
});
const denseDpoSchema = z.strictObject({
  beta: beta(5000),
  // No default: when absent the trainer's own `segmentFrames` setting applies.
  segmentFrames: z.number().int().positive().optional().describe('latent frames per segment S (F = ⌈T/S⌉); absent: the trainer setting'),
});
const ktoSchema = z.strictObject({
  beta: beta(1000),
  desirableWeight: z.number().min(0).finite().default(1),
  undesirableWeight: z.number().min(0).finite().default(1),
});
const mapoSchema = z.strictObject({
  beta: z.number().positive().finite().default(0.1).describe('β_MaPO'),
  snr: z.number().positive().finite().default(0.5),
  numTrainTimesteps: z.number().int().positive().default(1000),
});
const sftSchema = z.strictObject({});

function spec<S extends z.ZodType>(s: LossSpec<S>): LossSpec<S> {
  return s;
}

/**
 * Every loss by name. Link variants of Diffusion-DPO (cDPO, rDPO, hinge, IPO) and the SFT term
 * are options of `'diffusion-dpo'` / `'dcpo'` (`link`, `labelSmoothing`, `sftWeight`).
 *
 * @example
 * for (const [name, spec] of Object.entries(lossRegistry)) console.log(name, spec.requires);
 */
export const lossRegistry = {
  'diffusion-dpo': spec({
    name: 'diffusion-dpo',
    paper: 'Wallace et al. 2023, Diffusion Model Alignment Using Direct Preference Optimization, https://arxiv.org/abs/2311.12908',
    schema: diffusionDpoSchema,
    requires: { reference: true },
    errorKind: 'sample',
    compute: (inputs, o) => diffusionDpoLoss(paired(inputs, 'diffusion-dpo'), o),
  }),
  dcpo: spec({
    name: 'dcpo',
    paper: 'Saeidi et al. 2025, Dual Caption Preference Optimization for Diffusion Models, https://arxiv.org/abs/2502.06023',
    schema: dcpoSchema,
    requires: { reference: true, dualCaptions: true },
    errorKind: 'sample',
    compute: (inputs, o) => dcpoLoss(paired(inputs, 'dcpo'), o),
  }),
  smpo: spec({
    name: 'smpo',
    paper: 'Lu et al. 2025, Smoothed Preference Optimization via ReNoise Inversion (SmPO-Diffusion), https://arxiv.org/abs/2506.02698',
    schema: smpoSchema,
    requires: { reference: true, softLabels: true },
    errorKind: 'sample',
    compute: (inputs, o) =>
      smpoLoss(paired(inputs, 'smpo'), { ...o, preference: need(inputs.preference, 'preference', 'smpo', 'soft labels p in [0, 1]') }),
  }),
  'dense-dpo': spec({
    name: 'dense-dpo',
    paper: 'Wu et al. 2025, DenseDPO: Fine-Grained Temporal Preference Optimization for Video Diffusion Models, https://arxiv.org/abs/2506.03517',
    schema: denseDpoSchema,
    requires: { reference: true, segmentLabels: true },
    errorKind: 'segment',
    compute: (inputs, o) =>
      denseDpoLoss(
        {
          policyA: inputs.policyChosen as tf.Tensor2D,
          policyB: inputs.policyRejected as tf.Tensor2D,
          refA: need(inputs.refChosen, 'refChosen', 'dense-dpo', 'reference errors') as tf.Tensor2D,
          refB: need(inputs.refRejected, 'refRejected', 'dense-dpo', 'reference errors') as tf.Tensor2D,
        },
        { beta: o.beta, labels: need(inputs.segmentLabels, 'segmentLabels', 'dense-dpo', 'per-segment labels +1/-1/0') },
      ),
  }),
  kto: spec({
    name: 'kto',
    paper: 'Li et al. 2024, Aligning Diffusion Models by Optimizing Human Utility (Diffusion-KTO), https://arxiv.org/abs/2404.04465',
    schema: ktoSchema,
    requires: { reference: true, unpaired: true },
    errorKind: 'sample',
    compute: (inputs, o) => ktoLoss(paired(inputs, 'kto'), o),
  }),
  mapo: spec({
    name: 'mapo',
    paper: 'Hong et al. 2024, Margin-aware Preference Optimization for Aligning Diffusion Models without Reference, https://arxiv.org/abs/2406.06424',
    schema: mapoSchema,
    requires: { reference: false },
    errorKind: 'sample',
    compute: (inputs, o) =>
      mapoLoss({ policyChosen: inputs.policyChosen as tf.Tensor1D, policyRejected: inputs.policyRejected as tf.Tensor1D }, o),
  }),
  sft: spec({
    name: 'sft',
    paper: 'Supervised fine-tuning on the chosen samples (baseline of Wallace et al. 2023, https://arxiv.org/abs/2311.12908)',
    schema: sftSchema,
    requires: { reference: false },
    errorKind: 'sample',
    compute: (inputs) => sftLoss({ policyChosen: inputs.policyChosen as tf.Tensor1D }),
  }),
} satisfies Record<string, LossSpec<any>>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A registered loss name. */
export type LossName = keyof typeof lossRegistry;

/** The registered loss names, in registry order. * @example
 * lossNames(); // ['diffusion-dpo', 'dcpo', 'smpo', 'dense-dpo', 'kto', 'mapo', 'sft']
 */
export function lossNames(): string[] {
  return Object.keys(lossRegistry);
}

/**
 * Look a loss up by name.
 *
 * @param name - a registry name, e.g. `'diffusion-dpo'`.
 * @returns its {@link LossSpec}.
 * @throws {ConfigError} for an unknown name, listing the registered names.
 * @example
 * const spec = getLoss('diffusion-dpo');
 * const options = spec.schema.parse({ beta: 2500 });
 */
export function getLoss(name: string): LossSpec {
  if (!Object.prototype.hasOwnProperty.call(lossRegistry, name)) {
    throw new ConfigError(`Unknown loss "${name}". Expected one of: ${lossNames().join(', ')}.`, { source: 'loss name' });
  }
  return (lossRegistry as Record<string, LossSpec>)[name];
}

/**
 * Look a loss up and validate its options (defaults filled in).
 *
 * @param name - a registry name.
 * @param options - raw options (e.g. from a config file); `undefined` means all defaults.
 * @returns `{ spec, options }` ready for `spec.compute(inputs, options)`.
 * @throws {ConfigError} for an unknown name or invalid options (message lists every issue).
 * @example
 * const { spec, options } = resolveLoss('diffusion-dpo', { beta: 5000, link: 'ipo' });
 */
export function resolveLoss(name: string, options?: unknown): { spec: LossSpec; options: unknown } {
  const s = getLoss(name);
  return { spec: s, options: parseWithSchema(s.schema, options ?? {}, `options of loss "${name}"`) };
}
