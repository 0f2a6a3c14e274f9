/**
 * The demo's report folder: report.md, metrics.json and PNG grids.
 * @module
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { imageGrid } from '../image/save.js';
import type { Comparison } from './evaluate.js';

/** Everything the report states (also written as metrics.json). */
export interface DemoMetrics {
  /** Settings used. */
  settings: Record<string, unknown>;
  /** Backend and threads. */
  engine: { backend: string; threads: number };
  pairs: { count: number; samples: number; dropped: number; meanSampleReward: number; meanChosenReward: number; meanRejectedReward: number; rounds?: { count: number; dropped: number; meanSampleReward: number }[] };
  training: { steps: number; reason: string; nonFiniteSteps: number; finalMetrics: Record<string, number> };
  /** Held-out prompts (never used for pairs), held-out seeds. */
  heldOut: Comparison;
  /** Training prompts, held-out seeds. */
  trainPrompts: Comparison;
  /** Wall time per phase, seconds. */
  timings: Record<string, number>;
}

/**
 * Upscale `[N, h, w, 3]` images by an integer factor (nearest neighbour, by broadcast).
 * @returns a new tensor.
 */
export function upscaleNearest(images: tf.Tensor4D, factor: number): tf.Tensor4D {
  return tf.tidy(() => {
    const [n, h, w, c] = images.shape;
    const x = tf.reshape(images, [n, h, 1, w, 1, c]);
    return tf.reshape(tf.tile(x, [1, 1, factor, 1, factor, 1]), [n, h * factor, w * factor, c]) as tf.Tensor4D;
  });
}

/**
 * Write a base-vs-tuned grid: each row is one prompt, alternating base and tuned samples (same seed).
 * @param base - `[N, H, W, 3]`. @param tuned - same shape. @param prompts - N prompts (prompt-major).
 * @param perRow - seeds per row. @param file - PNG path.
 */
export async function writeComparisonGrid(base: tf.Tensor4D, tuned: tf.Tensor4D, prompts: readonly string[], perRow: number, file: string): Promise<void> {
  const [n] = base.shape;
  const rowsIdx: number[] = [];
  const seedsPerPrompt = prompts.filter((p) => p === prompts[0]).length;
  for (let i = 0; i < n; i += seedsPerPrompt) for (let k = 0; k < Math.min(perRow, seedsPerPrompt); k++) rowsIdx.push(i + k);
  const a = upscaleNearest(base, 4);
  const b = upscaleNearest(tuned, 4);
  const list: tf.Tensor[] = [];
  const labels: string[] = [];
  for (const i of rowsIdx) {
    list.push(tf.tidy(() => tf.squeeze(tf.slice(a, [i, 0, 0, 0], [1, -1, -1, -1]), [0])), tf.tidy(() => tf.squeeze(tf.slice(b, [i, 0, 0, 0], [1, -1, -1, -1]), [0])));
    const short = prompts[i].replace(/^a /, '');
    labels.push(`base ${short}`, 'tuned');
  }
  await imageGrid(list, { cols: 2 * Math.min(perRow, seedsPerPrompt), labels, labelHeight: 14, path: file });
  tf.dispose([a, b, ...list]);
}

/**
 * Write chosen/rejected examples of the preference pairs as a grid.
 * @param chosen - `[n, H, W, 3]`. @param rejected - same. @param prompts - n prompts. @param file - PNG path.
 */
export async function writePairsGrid(chosen: tf.Tensor4D, rejected: tf.Tensor4D, prompts: readonly string[], file: string): Promise<void> {
  if (chosen.shape[0] === 0) return;
  const a = upscaleNearest(chosen, 4);
  const b = upscaleNearest(rejected, 4);
  const ua = tf.unstack(a);
  const ub = tf.unstack(b);
  const list: tf.Tensor[] = [];
  const labels: string[] = [];
  ua.forEach((t, i) => {
    list.push(t, ub[i]);
    labels.push(`+ ${prompts[i].replace(/^a /, '')}`, '- rejected');
  });
  await imageGrid(list, { cols: 4, labels, path: file });
  tf.dispose([a, b, ...ua, ...ub]);
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a');
const f3 = (x: number) => (Number.isFinite(x) ? x.toFixed(3) : 'n/a');

function comparisonTable(c: Comparison): string {
  return [
    '| | base | tuned |',
    '|---|---:|---:|',
    `| mean reward | ${f3(c.base.meanReward)} | ${f3(c.tuned.meanReward)} |`,
    `| colour correct | ${pct(c.base.colourAccuracy)} | ${pct(c.tuned.colourAccuracy)} |`,
    `| shape correct | ${pct(c.base.shapeAccuracy)} | ${pct(c.tuned.shapeAccuracy)} |`,
    `| colour and shape correct | ${pct(c.base.bothAccuracy)} | ${pct(c.tuned.bothAccuracy)} |`,
    `| quality | ${f3(c.base.meanQuality)} | ${f3(c.tuned.meanQuality)} |`,
    '',
    `Tuned vs base on ${c.n} prompt-seeds (same initial noise): **${c.wins} wins, ${c.ties} ties, ${c.losses} losses** ` +
      `(ties: reward difference under ${c.tieMargin}). Win rate ${pct(c.winRate)} of all; ${pct(c.winRateDecisive)} of decisive comparisons.`,
  ].join('\n');
}

/** The terminal summary (a few lines). */
export function summaryLines(m: DemoMetrics): string[] {
  const h = m.heldOut;
  return [
    `Held-out prompts (${h.n} prompt-seeds): mean reward base ${f3(h.base.meanReward)} → tuned ${f3(h.tuned.meanReward)}`,
    `  colour+shape correct ${pct(h.base.bothAccuracy)} → ${pct(h.tuned.bothAccuracy)}`,
    `  tuned vs base: ${h.wins} wins / ${h.ties} ties / ${h.losses} losses → win rate ${pct(h.winRate)} (${pct(h.winRateDecisive)} of decisive)`,
    `Training prompts, new seeds: reward ${f3(m.trainPrompts.base.meanReward)} → ${f3(m.trainPrompts.tuned.meanReward)}, win rate ${pct(m.trainPrompts.winRate)}`,
    `Wall time ${m.timings['total']?.toFixed(1)} s (pairs ${m.timings['pairs']?.toFixed(1)} s, training ${m.timings['training']?.toFixed(1)} s, evaluation ${m.timings['evaluation']?.toFixed(1)} s)`,
  ];
}

/** The report's first paragraph: what was sampled, how pairs were made, and how the model was trained (per round when there were several). */
function intro(m: DemoMetrics): string {
  const s = m.settings;
  const rounds = m.pairs.rounds ?? [];
  const drop = `reward gap under ${s['minGap']}${s['strict'] ? ', or best sample not right in colour and shape, or worst sample right' : ''}`;
  const model = 'The bundled tiny model (TinyUNet on 8x8x4 latents of a patch autoencoder, prompts through a bag-of-words text encoder)';
  const train = `(batch ${s['batchSize']}, lr ${s['lr']}) on ${m.engine.backend} with ${m.engine.threads} thread(s).`;
  const nPrompts = (s['trainPrompts'] as string[]).length;
  const judged = `the programmatic reward judge (colour and shape from pixels, plus quality) ranked each group of ${s['samplesPerGroup']} samples, and best vs worst gave`;
  if (rounds.length > 1) {
    const ref = s['reference'] === 'base' ? 'the base model' : 'a frozen copy of the policy at the round start';
    return (
      `${model} was tuned in ${rounds.length} on-policy rounds. Each round sampled the current model ${m.pairs.samples} times on ${nPrompts} training prompts; ` +
      `${judged} ${rounds.map((r) => r.count).join(', ')} preference pairs in rounds 1 to ${rounds.length} (mean sample reward ${rounds.map((r) => r.meanSampleReward.toFixed(3)).join(', ')}; groups dropped: ${drop}). ` +
      `Diffusion-DPO (β = ${s['beta']}) then trained ${m.training.steps} steps per round, with the base model as the reference in round 1 and ${ref} after that ${train}`
    );
  }
  return (
    `${model} was sampled ${m.pairs.samples} times on ${nPrompts} training prompts; ` +
    `${judged} ${m.pairs.count} preference pairs ` +
    `(${m.pairs.dropped} groups dropped: ${drop}). Diffusion-DPO (β = ${s['beta']}) then trained the model for ${m.training.steps} steps ${train}`
  );
}

/**
 * Write report.md and metrics.json into `dir` (the PNGs are written by the caller).
 * @param dir - report folder. @param m - the metrics. @param charts - chart PNG file names in `dir`.
 */
export async function writeReport(dir: string, m: DemoMetrics, charts: readonly string[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, 'metrics.json'), JSON.stringify(m, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2) + '\n');
  const s = m.settings;
  const md = [
    '# prefkit demo: text-to-image alignment with Diffusion-DPO',
    '',
    intro(m),
    '',
    '## Held-out prompts (never used for pairs), new seeds',
    '',
    `Prompts: ${(s['heldOutPrompts'] as string[]).map((p) => `"${p}"`).join(', ')}; ${s['evalSeeds']} seeds each.`,
    '',
    comparisonTable(m.heldOut),
    '',
    '![held-out samples: base (left of each pair) vs tuned](samples-heldout.png)',
    '',
    '## Training prompts, new seeds',
    '',
    comparisonTable(m.trainPrompts),
    '',
    '![training-prompt samples: base vs tuned](samples-train.png)',
    '',
    '## Preference pairs',
    '',
    `Mean reward of all samples ${f3(m.pairs.meanSampleReward)}; chosen ${f3(m.pairs.meanChosenReward)}, rejected ${f3(m.pairs.meanRejectedReward)}.`,
    '',
    '![chosen (+) and rejected (-) examples](pairs.png)',
    '',
    '## Training curves',
    '',
    ...charts.map((c) => `![${c}](${c})`),
    '',
    `Final logged metrics: ${Object.entries(m.training.finalMetrics).map(([k, v]) => `${k} ${f3(v)}`).join(', ')}.`,
    '',
    '## Wall time',
    '',
    '| phase | seconds |',
    '|---|---:|',
    ...Object.entries(m.timings).map(([k, v]) => `| ${k} | ${v.toFixed(1)} |`),
    '',
    `metrics.json holds every number above; metrics.jsonl the training log${(m.pairs.rounds?.length ?? 1) > 1 ? ' of every round (steps counted on across rounds; rounds/round-N/ holds each later round\'s own log and checkpoints)' : ''}; tuned/ the final tuned weights (load with loadDenoiser); checkpoints/ the trainer checkpoints${(m.pairs.rounds?.length ?? 1) > 1 ? ' of round 1' : ''}.`,
    '',
  ].join('\n');
  await fs.writeFile(path.join(dir, 'report.md'), md);
}
