/**
 * Noise schedules with diffusers-compatible configuration keys.
 *
 * Symbols: β_t = `betas[t]`, ᾱ_t = `alphasCumprod[t]` = Π_{s≤t} (1 − β_s),
 * `T` = `num_train_timesteps`. Everything here is plain `Float64Array` numbers;
 * the tensor side lives in `noise-schedule.ts`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, parseWithSchema } from '../errors.js';

/** Beta schedules diffusers' DDIM/DDPM schedulers accept. */
export const BETA_SCHEDULES = ['linear', 'scaled_linear', 'squaredcos_cap_v2'] as const;
/** Prediction types: diffusers' three plus rectified flow (`flow`: the model predicts `noise - x0`). */
export const PREDICTION_TYPES = ['epsilon', 'v_prediction', 'sample', 'flow'] as const;
/** Timestep spacings of diffusers' `set_timesteps` (Lin et al. 2023, Table 2). */
export const TIMESTEP_SPACINGS = ['leading', 'trailing', 'linspace'] as const;
/** DDPM variance types we implement. */
export const VARIANCE_TYPES = ['fixed_small', 'fixed_small_log', 'fixed_large'] as const;

/** A beta schedule name. */
export type BetaSchedule = (typeof BETA_SCHEDULES)[number];
/** A prediction type. */
export type PredictionType = (typeof PREDICTION_TYPES)[number];
/** A timestep spacing. */
export type TimestepSpacing = (typeof TIMESTEP_SPACINGS)[number];

/**
 * zod schema of a scheduler config: diffusers' `scheduler_config.json` keys with diffusers'
 * DDIM defaults. Unknown keys (e.g. `_class_name`, `_diffusers_version`) are kept as they are.
 */
export const ScheduleConfigSchema = z
  .looseObject({
    num_train_timesteps: z.number().int().positive().default(1000),
    beta_start: z.number().positive().default(0.0001),
    beta_end: z.number().positive().default(0.02),
    beta_schedule: z.enum(BETA_SCHEDULES).default('linear'),
    trained_betas: z.array(z.number().min(0).max(1)).nullable().default(null),
    prediction_type: z.enum(PREDICTION_TYPES).default('epsilon'),
    timestep_spacing: z.enum(TIMESTEP_SPACINGS).default('leading'),
    steps_offset: z.number().int().min(0).default(0),
    rescale_betas_zero_snr: z.boolean().default(false),
    clip_sample: z.boolean().default(true),
    clip_sample_range: z.number().positive().default(1),
    set_alpha_to_one: z.boolean().default(true),
    variance_type: z.enum(VARIANCE_TYPES).default('fixed_small'),
    thresholding: z.literal(false, { message: 'dynamic thresholding is not supported; set thresholding to false' }).default(false),
  })
  .superRefine((c, ctx) => {
    if (c.trained_betas && c.trained_betas.length !== c.num_train_timesteps) {
      ctx.addIssue({
        code: 'custom',
        path: ['trained_betas'],
        message: `trained_betas has ${c.trained_betas.length} values, num_train_timesteps is ${c.num_train_timesteps}; they must agree`,
      });
    }
    if (c.beta_end < c.beta_start && !c.trained_betas && c.beta_schedule !== 'squaredcos_cap_v2') {
      ctx.addIssue({ code: 'custom', path: ['beta_end'], message: `beta_end (${c.beta_end}) is below beta_start (${c.beta_start})` });
    }
  });

/** A scheduler config as users write it (every key optional). */
export type ScheduleConfigInput = z.input<typeof ScheduleConfigSchema>;
/** A parsed scheduler config: every known key present, unknown keys kept. */
export type ScheduleConfig = z.output<typeof ScheduleConfigSchema>;

/**
 * Parse a scheduler config object, or read and parse a `scheduler_config.json` file.
 * @param config - config keys, or a path to a JSON file holding them.
 * @returns the config with diffusers' defaults filled in.
 * @throws {ConfigError} on an unreadable file or a bad value.
 * @example
 * const cfg = parseScheduleConfig({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012 });
 */
export function parseScheduleConfig(config: ScheduleConfigInput | string = {}): ScheduleConfig {
  if (typeof config === 'string') {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(config, 'utf8'));
    } catch (e) {
      throw new ConfigError(`Cannot read scheduler config '${config}': ${(e as Error).message}. Expected a JSON file with diffusers scheduler keys.`, {
        source: config,
        cause: e,
      });
    }
    return parseWithSchema(ScheduleConfigSchema, raw, `scheduler config ${config}`);
  }
  return parseWithSchema(ScheduleConfigSchema, config, 'scheduler config');
}

/** `n` evenly spaced values from `a` to `b` inclusive (numpy/torch `linspace`). */
export function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  if (n === 1) {
    out[0] = a;
    return out;
  }
  const step = (b - a) / (n - 1);
  // torch/numpy fill the second half from the end for symmetry; match numpy.
  const half = Math.floor(n / 2);
  for (let i = 0; i < n; i++) out[i] = i < half ? a + step * i : b - step * (n - 1 - i);
  return out;
}

/**
 * The cosine schedule ("squaredcos_cap_v2", Nichol & Dhariwal 2021):
 * β_i = min(1 − ᾱ((i+1)/T) / ᾱ(i/T), maxBeta), ᾱ(s) = cos²((s + 0.008)/1.008 · π/2).
 * @see diffusers `betas_for_alpha_bar`
 */
export function betasForAlphaBar(n: number, maxBeta = 0.999): Float64Array {
  const f = (t: number) => Math.cos(((t + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.min(1 - f((i + 1) / n) / f(i / n), maxBeta);
  return out;
}

/**
 * Rescale betas so that the last timestep has zero SNR (Lin et al. 2023, Algorithm 1).
 * @see https://arxiv.org/abs/2305.08891 ; diffusers `rescale_zero_terminal_snr`
 */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const n = betas.length;
  const sq = new Float64Array(n);
  let p = 1;
  for (let i = 0; i < n; i++) {
    p *= 1 - betas[i];
    sq[i] = Math.sqrt(p);
  }
  const a0 = sq[0];
  const aT = sq[n - 1];
  const bar = new Float64Array(n);
  for (let i = 0; i < n; i++) bar[i] = ((sq[i] - aT) * (a0 / (a0 - aT))) ** 2;
  const out = new Float64Array(n);
  out[0] = 1 - bar[0];
  for (let i = 1; i < n; i++) out[i] = 1 - bar[i] / bar[i - 1];
  return out;
}

/**
 * The betas β_0..β_{T−1} a config describes.
 * @param c - a parsed config.
 */
export function betasFromConfig(c: ScheduleConfig): Float64Array {
  const T = c.num_train_timesteps;
  let betas: Float64Array;
  if (c.trained_betas) betas = Float64Array.from(c.trained_betas);
  else {
    switch (c.beta_schedule) {
      case 'linear':
        betas = linspace(c.beta_start, c.beta_end, T);
        break;
      case 'scaled_linear':
        betas = linspace(Math.sqrt(c.beta_start), Math.sqrt(c.beta_end), T).map((x) => x * x);
        break;
      case 'squaredcos_cap_v2':
        betas = betasForAlphaBar(T);
        break;
      default: {
        const never: never = c.beta_schedule;
        throw new ConfigError(`Unknown beta_schedule "${String(never)}". Expected one of: ${BETA_SCHEDULES.join(', ')}.`);
      }
    }
  }
  return c.rescale_betas_zero_snr ? rescaleZeroTerminalSnr(betas) : betas;
}

/**
 * Inference timesteps for `n` steps, exactly as diffusers' DDIM/DDPM `set_timesteps`.
 * @param c - a parsed config (`num_train_timesteps`, `timestep_spacing`, `steps_offset`).
 * @param n - number of inference steps, 1..T.
 * @returns descending integer timesteps.
 * @throws {ConfigError} when `n` is not an integer in [1, T].
 */
export function inferenceTimesteps(c: ScheduleConfig, n: number): number[] {
  const T = c.num_train_timesteps;
  if (!Number.isInteger(n) || n < 1 || n > T) {
    throw new ConfigError(`setTimesteps: num_inference_steps must be an integer in [1, ${T}] (num_train_timesteps), got ${n}.`);
  }
  const out: number[] = [];
  switch (c.timestep_spacing) {
    case 'linspace': {
      const ls = linspace(0, T - 1, n);
      for (let i = n - 1; i >= 0; i--) out.push(roundHalfEven(ls[i]));
      break;
    }
    case 'leading': {
      const ratio = Math.floor(T / n);
      for (let i = n - 1; i >= 0; i--) out.push(i * ratio + c.steps_offset);
      break;
    }
    case 'trailing': {
      const ratio = T / n;
      // np.arange(T, 0, -ratio) has ceil((0 - T) / -ratio) values
      const count = Math.ceil(-T / -ratio);
      for (let i = 0; i < count; i++) out.push(roundHalfEven(T - i * ratio) - 1);
      break;
    }
    default: {
      const never: never = c.timestep_spacing;
      throw new ConfigError(`Unknown timestep_spacing "${String(never)}". Expected one of: ${TIMESTEP_SPACINGS.join(', ')}.`);
    }
  }
  return out;
}

/** numpy `round`: halves to even. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  if (Math.abs(x % 1) === 0.5 && r % 2 !== 0) return r - 1;
  return r;
}
