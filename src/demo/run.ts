/**
 * `runT2IDemo`: the whole demo — on-policy pairs from the bundled base model, Diffusion-DPO with
 * `PreferenceTrainer`, base-vs-tuned evaluation on held-out prompts and seeds, and a report folder.
 * @module
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { initEngine } from '../core/engine.js';
import { createSchedule } from '../diffusion/noising.js';
import { parseWithSchema } from '../errors.js';
import { getLoss } from '../losses/registry.js';
import { renderCharts } from '../train/charts.js';
import type { TrainerEventHandler } from '../train/events.js';
import { PreferenceTrainer } from '../train/loop.js';
import { readMetricsFile } from '../train/metrics.js';
import type { TrainerLoss } from '../train/types.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import { disposeDemoBundle, loadDemoBundle } from './bundle.js';
import { compareModels } from './evaluate.js';
import { disposePairs, LatentPairSource, makeOnPolicyPairs } from './pairs.js';
import { summaryLines, writeComparisonGrid, writePairsGrid, writeReport, type DemoMetrics } from './report.js';
import { HELD_OUT_CAPTIONS, trainCaptions } from './world.js';

/** zod schema of {@link T2IDemoOptions}; defaults are the full demo. */
export const t2iDemoOptionsSchema = z
  .object({
    /** Report folder. */
    outDir: z.string().min(1).default('runs/demo'),
    /** Master seed. */
    seed: z.number().int().default(0),
    /** Quick mode: a small run for tests (about a minute). Explicit options still win. */
    quick: z.boolean().default(false),
    /** Diffusion-DPO optimizer steps per round. */
    steps: z.number().int().positive().optional(),
    /** On-policy rounds: each round samples fresh pairs from the current (tuned) policy, then trains `steps` steps (metrics.jsonl and the charts cover round 1). */
    rounds: z.number().int().positive().optional(),
    /** Reference model in rounds after the first: the base model, or a frozen copy of the policy at the round's start. */
    reference: z.enum(['base', 'round']).optional(),
    /** Pairs per optimizer step. */
    batchSize: z.number().int().positive().optional(),
    /** Samples per group K (best vs worst of K). */
    samplesPerGroup: z.number().int().min(2).optional(),
    /** Groups (pairs at most) per training prompt. */
    groupsPerPrompt: z.number().int().positive().optional(),
    /** Evaluation seeds per prompt. */
    evalSeeds: z.number().int().positive().optional(),
    /** Diffusion-DPO β. */
    beta: z.number().positive().optional(),
    /** AdamW learning rate. */
    lr: z.number().positive().optional(),
    /** Weight of the SFT term (chosen sample's denoising error) added to the DPO loss. */
    sftWeight: z.number().min(0).optional(),
    /** Keep only groups whose best sample is fully right and worst is not. */
    strict: z.boolean().optional(),
    /** Minimum best-worst reward gap for a pair. */
    minGap: z.number().min(0).optional(),
    /** DDIM steps for all sampling (default: the bundle's). */
    samplingSteps: z.number().int().positive().optional(),
    /** Bundle folder (default: the packaged assets/t2i). */
    bundleDir: z.string().optional(),
    /** Backend (default wasm). */
    backend: z.enum(['auto', 'tensorflow', 'wasm', 'cpu']).default('wasm'),
    /** Print progress and the summary (default true). */
    verbose: z.boolean().default(true),
  })
  .strict();

/** Options of {@link runT2IDemo} (all optional). */
export type T2IDemoOptions = z.input<typeof t2iDemoOptionsSchema>;

/**
 * Full-demo settings (quick mode overrides some): 4 on-policy rounds of 300 steps, each round's reference the
 * policy at its start. Over 8 seeds the held-out win rate is 57.3% on average (48.8-71.2%) and the mean reward
 * rises on every seed; the earlier 2 × 1000 steps collapsed on half of them (bench/RESULTS.md "Demo").
 */
export const DEMO_DEFAULTS = { steps: 300, rounds: 4, reference: 'round', batchSize: 8, samplesPerGroup: 8, groupsPerPrompt: 16, evalSeeds: 16, beta: 5000, lr: 3e-5, minGap: 0.1, sftWeight: 0, strict: true } as const;
/** Quick-mode settings. */
export const DEMO_QUICK = { steps: 12, rounds: 1, reference: 'round', batchSize: 4, samplesPerGroup: 4, groupsPerPrompt: 2, evalSeeds: 4, beta: 5000, lr: 3e-5, minGap: 0.05, sftWeight: 0, strict: false } as const;

/** What {@link runT2IDemo} returns: the metrics, plus where the report is. */
export interface T2IDemoResult extends DemoMetrics {
  outDir: string;
  files: string[];
}

/**
 * Append a later round's training records to the run's metrics file, with steps counted on from
 * the earlier rounds (`step + offset`) and the round number added.
 */
async function appendRoundMetrics(from: string, to: string, offset: number, round: number): Promise<void> {
  const recs = await readMetricsFile(from);
  await fs.appendFile(to, recs.map((r) => JSON.stringify({ ...r, step: r.step + offset, round }) + '\n').join(''));
}

/**
 * Run the text-to-image alignment demo end to end and write its report folder
 * (report.md, metrics.json, metrics.jsonl, samples-heldout.png, samples-train.png, pairs.png, charts).
 * @param options - see {@link T2IDemoOptions}.
 * @returns the metrics and the files written.
 * @throws {ConfigError} for invalid options. @throws {CheckpointError} when the bundle is missing.
 * @example
 * const r = await runT2IDemo({ quick: true, outDir: 'runs/quick' });
 * console.log(r.heldOut.winRate);
 */
export async function runT2IDemo(options: T2IDemoOptions = {}): Promise<T2IDemoResult> {
  const o = parseWithSchema(t2iDemoOptionsSchema, options, 'demo options');
  const d = o.quick ? DEMO_QUICK : DEMO_DEFAULTS;
  const s = {
    steps: o.steps ?? d.steps,
    rounds: o.rounds ?? d.rounds,
    reference: o.reference ?? d.reference,
    batchSize: o.batchSize ?? d.batchSize,
    samplesPerGroup: o.samplesPerGroup ?? d.samplesPerGroup,
    groupsPerPrompt: o.groupsPerPrompt ?? d.groupsPerPrompt,
    evalSeeds: o.evalSeeds ?? d.evalSeeds,
    beta: o.beta ?? d.beta,
    lr: o.lr ?? d.lr,
    minGap: o.minGap ?? d.minGap,
    sftWeight: o.sftWeight ?? d.sftWeight,
    strict: o.strict ?? d.strict,
  };
  const log = (msg: string) => {
    if (o.verbose) process.stderr.write(msg + '\n');
  };
  const t0 = performance.now();
  const timings: Record<string, number> = {};
  const lap = (name: string, since: number) => (timings[name] = (performance.now() - since) / 1000);
  const engine = await initEngine({ backend: o.backend });
  const outDir = path.resolve(o.outDir);
  await fs.mkdir(outDir, { recursive: true });
  // this run's logs replace an earlier run's (rounds/ is the demo's own folder of later-round logs)
  await fs.rm(path.join(outDir, 'metrics.jsonl'), { force: true });
  await fs.rm(path.join(outDir, 'rounds'), { recursive: true, force: true });

  let t = performance.now();
  const bundle = await loadDemoBundle(o.bundleDir);
  const base = bundle.unet.cloneFrozen();
  const steps = o.samplingSteps ?? bundle.meta.samplingSteps;
  lap('load', t);
  const prompts = trainCaptions();
  const heldOut = [...HELD_OUT_CAPTIONS];

  // 1. on-policy pairs: K samples per prompt from the current policy, best vs worst by reward;
  // 2. Diffusion-DPO with the trainer and the losses registry. Repeated for each round.
  const files: string[] = [];
  const nSamples = prompts.length * s.groupsPerPrompt * s.samplesPerGroup;
  let made: ReturnType<typeof makeOnPolicyPairs> | undefined;
  let roundRef: Denoiser | undefined;
  const pairStats: { count: number; dropped: number; meanSampleReward: number }[] = [];
  let result: Awaited<ReturnType<PreferenceTrainer['train']>> | undefined;
  timings['pairs'] = 0;
  timings['training'] = 0;
  try {
    for (let r = 0; r < s.rounds; r++) {
      const tag = s.rounds > 1 ? ` (round ${r + 1}/${s.rounds})` : '';
      t = performance.now();
      log(`[demo] sampling ${nSamples} images from the ${r === 0 ? 'base' : 'current'} model for preference pairs${tag}...`);
      if (made) disposePairs(made.pairs);
      made = undefined;
      made = makeOnPolicyPairs(r === 0 ? base : bundle.unet, bundle, { prompts, samplesPerGroup: s.samplesPerGroup, groupsPerPrompt: s.groupsPerPrompt, minGap: s.minGap, strict: s.strict, seed: r === 0 ? `${o.seed}/pairs` : `${o.seed}/pairs/round${r}`, steps });
      timings['pairs'] += (performance.now() - t) / 1000;
      pairStats.push({ count: made.pairs.length, dropped: made.dropped, meanSampleReward: made.meanSampleReward });
      log(`[demo] ${made.pairs.length} pairs (${made.dropped} groups dropped), mean sample reward ${made.meanSampleReward.toFixed(3)}`);
      if (r === 0) {
        await writePairsGrid(made.preview.chosen, made.preview.rejected, made.preview.prompts, path.join(outDir, 'pairs.png'));
        files.push('pairs.png');
      }
      tf.dispose([made.preview.chosen, made.preview.rejected]);

      t = performance.now();
      roundRef?.dispose();
      roundRef = r > 0 && s.reference === 'round' ? bundle.unet.cloneFrozen() : undefined;
      // round 1 logs and checkpoints into outDir itself, later rounds into rounds/round-N/
      const roundDir = r === 0 ? outDir : path.join(outDir, 'rounds', `round-${r + 1}`);
      const trainer = new PreferenceTrainer({
        policy: bundle.unet,
        reference: roundRef ?? base,
        data: new LatentPairSource(made.pairs, r === 0 ? `${o.seed}/data` : `${o.seed}/data/round${r}`),
        schedule: createSchedule(bundle.meta.schedule),
        conditioner: (p) => bundle.textEncoder.encode(p),
        loss: getLoss('diffusion-dpo') as unknown as TrainerLoss,
        config: {
          maxSteps: s.steps,
          batchSize: s.batchSize,
          seed: r === 0 ? o.seed : `${o.seed}/train/round${r}`,
          loss: { name: 'diffusion-dpo', options: s.sftWeight > 0 ? { beta: s.beta, sftWeight: s.sftWeight } : { beta: s.beta } },
          optimizer: { lr: s.lr, weightDecay: 0 },
          lrSchedule: { kind: 'constant', warmupSteps: Math.min(10, Math.floor(s.steps / 5)) },
          maxGradNorm: 1,
          logEvery: Math.max(1, Math.floor(s.steps / 30)),
          outputDir: roundDir,
        },
      });
      log(`[demo] Diffusion-DPO${tag}: ${s.steps} steps, batch ${s.batchSize}, beta ${s.beta}, lr ${s.lr}`);
      const onEvent: TrainerEventHandler = (e) => {
        if (e.type === 'step' && e.metrics && o.verbose) {
          const m = e.metrics;
          log(`[demo] step ${e.step}/${e.maxSteps} loss ${m['loss']?.toFixed(4)} acc ${m['rewards/accuracies']?.toFixed(2)} margin ${m['rewards/margins']?.toFixed(3)} (${(e.elapsedMs / 1000).toFixed(1)} s)`);
        }
      };
      result = await trainer.train(onEvent);
      trainer.dispose();
      // one training log for the whole run: later rounds' records follow round 1's, steps counted on
      if (r > 0) await appendRoundMetrics(path.join(roundDir, 'metrics.jsonl'), path.join(outDir, 'metrics.jsonl'), r * s.steps, r + 1);
      timings['training'] += (performance.now() - t) / 1000;
    }
    // the final policy, loadable with loadDenoiser (checkpoints/ holds round 1's)
    await bundle.unet.save(path.join(outDir, 'tuned'));
    files.push('tuned');
    if (!made || !result) throw new Error('unreachable: no round ran');
    const charts = (await renderCharts(path.join(outDir, 'metrics.jsonl'), outDir)).map((f) => path.basename(f));
    files.push('metrics.jsonl', ...charts);

    // 3. evaluation: held-out prompts and seeds, same noise for base and tuned
    t = performance.now();
    log('[demo] evaluating base vs tuned on held-out prompts and seeds...');
    const evalSeed = `${o.seed}/eval`;
    const ho = compareModels(base, bundle.unet, bundle, { prompts: heldOut, seedsPerPrompt: s.evalSeeds, seed: evalSeed, steps, keepImages: true });
    const tr = compareModels(base, bundle.unet, bundle, { prompts, seedsPerPrompt: Math.max(2, Math.ceil(s.evalSeeds / 2)), seed: `${evalSeed}/train`, steps, keepImages: true });
    lap('evaluation', t);
    await writeComparisonGrid(ho.images!.base, ho.images!.tuned, ho.images!.prompts, 4, path.join(outDir, 'samples-heldout.png'));
    await writeComparisonGrid(tr.images!.base, tr.images!.tuned, tr.images!.prompts, 2, path.join(outDir, 'samples-train.png'));
    files.push('samples-heldout.png', 'samples-train.png');
    tf.dispose([ho.images!.base, ho.images!.tuned, tr.images!.base, tr.images!.tuned]);
    delete ho.images;
    delete tr.images;
    lap('total', t0);
    const metrics: DemoMetrics = {
      settings: { ...s, seed: o.seed, quick: o.quick, samplingSteps: steps, trainPrompts: prompts, heldOutPrompts: heldOut },
      engine: { backend: engine.backend, threads: engine.threads },
      pairs: {
        count: made.pairs.length,
        samples: made.samples,
        dropped: made.dropped,
        meanSampleReward: made.meanSampleReward,
        meanChosenReward: made.pairs.reduce((a, p) => a + p.chosenReward, 0) / made.pairs.length,
        meanRejectedReward: made.pairs.reduce((a, p) => a + p.rejectedReward, 0) / made.pairs.length,
        ...(s.rounds > 1 ? { rounds: pairStats } : {}),
      },
      training: { steps: result.step, reason: result.reason, nonFiniteSteps: result.nonFiniteSteps, finalMetrics: result.metrics ?? {} },
      heldOut: ho,
      trainPrompts: tr,
      timings,
    };
    await writeReport(outDir, metrics, charts);
    files.push('report.md', 'metrics.json');
    if (o.verbose) {
      process.stdout.write(['', ...summaryLines(metrics), `Report: ${path.join(outDir, 'report.md')}`, ''].join('\n'));
    }
    return { ...metrics, outDir, files };
  } finally {
    if (made) disposePairs(made.pairs);
    roundRef?.dispose();
    base.dispose();
    disposeDemoBundle(bundle);
  }
}
