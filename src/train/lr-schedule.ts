/**
 * Learning-rate schedules: linear warm-up, then constant, linear or cosine decay.
 * @module
 */
import type { LrScheduleConfig } from './config.js';

/**
 * The learning-rate multiplier for optimizer step `step` (0-based: the number of updates done
 * before this one), with Hugging Face `transformers.get_scheduler` semantics:
 * warm-up `step / warmup` for `step < warmup`, then 1 (`constant`),
 * `(T − step) / (T − warmup)` (`linear`) or `0.5·(1 + cos(π·progress))` (`cosine`), floored at 0.
 * @param step - 0-based optimizer step.
 * @param totalSteps - T, the run's maxSteps.
 * @param config - kind and warm-up steps.
 * @returns the factor in [0, 1] that multiplies the peak rate.
 * @see https://github.com/huggingface/transformers/blob/main/src/transformers/optimization.py
 * @example
 * lrFactor(5, 100, { kind: 'cosine', warmupSteps: 10 }); // 0.5
 */
export function lrFactor(step: number, totalSteps: number, config: LrScheduleConfig): number {
  const w = config.warmupSteps;
  if (step < w) return step / Math.max(1, w);
  switch (config.kind) {
    case 'constant':
      return 1;
    case 'linear':
      return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - w));
    case 'cosine': {
      const progress = (step - w) / Math.max(1, totalSteps - w);
      return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
    }
    default: {
      const never: never = config.kind;
      throw new Error(`Unknown lr schedule "${String(never)}". Expected one of: constant, linear, cosine.`);
    }
  }
}
