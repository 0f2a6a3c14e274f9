/**
 * Base-versus-tuned evaluation on held-out prompts and seeds: the two models start from the same
 * noise, the reward judge scores both, and each prompt-seed is a win, a tie or a loss.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import type { Denoiser } from '../diffusion/denoiser.js';
import type { DemoBundle } from './bundle.js';
import { generateSamples } from './pairs.js';

/** Summary of one model's samples. */
export interface ModelScores {
  meanReward: number;
  colourAccuracy: number;
  shapeAccuracy: number;
  /** Both colour and shape right. */
  bothAccuracy: number;
  meanQuality: number;
}

/** Head-to-head result, tuned versus base. */
export interface Comparison {
  /** Prompt-seeds compared. */
  n: number;
  wins: number;
  ties: number;
  losses: number;
  /** wins / n (ties count as not won). */
  winRate: number;
  /** wins / (wins + losses): ties left out (NaN when all tie). */
  winRateDecisive: number;
  /** Reward differences under this were ties. */
  tieMargin: number;
  base: ModelScores;
  tuned: ModelScores;
  /** Per-prompt mean rewards. */
  perPrompt: Record<string, { base: number; tuned: number }>;
}

/** Options of {@link compareModels}. */
export interface CompareOptions {
  prompts: readonly string[];
  /** Seeds per prompt. */
  seedsPerPrompt: number;
  /** Sampling seed (pick one never used for pairs). */
  seed: number | string;
  /** Reward differences under this are ties (default 0.02). */
  tieMargin?: number;
  /** DDIM steps (default: the bundle's). */
  steps?: number;
  /** Keep the images (caller disposes): `[n, H, W, 3]` each. */
  keepImages?: boolean;
}

function scores(r: ReturnType<typeof generateSamples>['rewards']): ModelScores {
  const n = r.length;
  const mean = (f: (x: (typeof r)[number]) => number) => r.reduce((a, x) => a + f(x), 0) / n;
  return {
    meanReward: mean((x) => x.reward),
    colourAccuracy: mean((x) => (x.colourCorrect ? 1 : 0)),
    shapeAccuracy: mean((x) => (x.shapeCorrect ? 1 : 0)),
    bothAccuracy: mean((x) => (x.colourCorrect && x.shapeCorrect ? 1 : 0)),
    meanQuality: mean((x) => x.quality),
  };
}

/**
 * Sample both models on the same prompts and noise and compare their rewards.
 * @param base - the base model. @param tuned - the tuned model. @param bundle - encoders and schedule.
 * @param opts - see {@link CompareOptions}.
 * @returns the comparison, plus the images when `keepImages` (prompt-major order).
 */
export function compareModels(base: Denoiser, tuned: Denoiser, bundle: DemoBundle, opts: CompareOptions): Comparison & { images?: { base: tf.Tensor4D; tuned: tf.Tensor4D; prompts: string[] } } {
  const tieMargin = opts.tieMargin ?? 0.02;
  const prompts = opts.prompts.flatMap((p) => Array<string>(opts.seedsPerPrompt).fill(p));
  const a = generateSamples(base, bundle, prompts, { seed: opts.seed, steps: opts.steps });
  const b = generateSamples(tuned, bundle, prompts, { seed: opts.seed, steps: opts.steps });
  let wins = 0, ties = 0, losses = 0;
  prompts.forEach((_, i) => {
    const d = b.rewards[i].reward - a.rewards[i].reward;
    if (Math.abs(d) < tieMargin) ties++;
    else if (d > 0) wins++;
    else losses++;
  });
  const perPrompt: Record<string, { base: number; tuned: number }> = {};
  for (const p of opts.prompts) {
    const idx = prompts.map((q, i) => (q === p ? i : -1)).filter((i) => i >= 0);
    perPrompt[p] = {
      base: idx.reduce((s, i) => s + a.rewards[i].reward, 0) / idx.length,
      tuned: idx.reduce((s, i) => s + b.rewards[i].reward, 0) / idx.length,
    };
  }
  tf.dispose([a.latents, b.latents]);
  const n = prompts.length;
  const out = {
    n,
    wins,
    ties,
    losses,
    winRate: wins / n,
    winRateDecisive: wins + losses > 0 ? wins / (wins + losses) : NaN,
    tieMargin,
    base: scores(a.rewards),
    tuned: scores(b.rewards),
    perPrompt,
  };
  if (opts.keepImages) return { ...out, images: { base: a.images, tuned: b.images, prompts } };
  tf.dispose([a.images, b.images]);
  return out;
}
