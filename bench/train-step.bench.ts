/**
 * One Diffusion-DPO training step through `PreferenceTrainer` on the reference `TinyUNet`
 * (16x16x4 latents, channels 32/64, pooled conditioning 32, 416,676 parameters), 4 pairs per step
 * (a policy batch of 8), frozen reference, AdamW, grad clipping, metrics read every 10 steps.
 * Reports pairs/s, the time split (data+noising, reference forward, policy forward+backward,
 * optimizer/bookkeeping), tensor count across the measured steps, and peak RSS.
 * Each configuration runs in its own process.
 *
 *   npx tsx bench/train-step.bench.ts                  # wasm 1 thread and default threads, 200 steps
 *   npx tsx bench/train-step.bench.ts --steps 50       # shorter
 *   npx tsx bench/train-step.bench.ts --cpu            # also the pure-JS cpu backend (3 steps; ~1 min/step)
 *   npx tsx bench/train-step.bench.ts --child wasm 2 200   # one configuration, JSON line
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/core/engine.js';
import { createRng } from '../src/core/random.js';
import { createSchedule, TinyUNet } from '../src/diffusion/index.js';
import { PreferenceTrainer, type StepTimings } from '../src/train/index.js';
import type { PairBatchSource, TrainBatch } from '../src/train/types.js';

const PAIRS = 4;
const SHAPE = [16, 16, 4];
const here = fileURLToPath(import.meta.url);

function quantile(a: number[], q: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor(s.length * q))];
}
const median = (a: number[]) => quantile(a, 0.5);

/** 32 fixed random pairs of latents, served in order. */
function pairSource(): PairBatchSource {
  const rng = createRng('bench-pairs');
  const n = 32;
  const d = SHAPE.reduce((a, b) => a * b, 1);
  const chosen = rng.normalArray(n * d);
  const rejected = rng.normalArray(n * d);
  let cursor = 0;
  return {
    next(b: number): TrainBatch {
      const c = new Float32Array(b * d);
      const r = new Float32Array(b * d);
      for (let i = 0; i < b; i++) {
        const j = (cursor + i) % n;
        c.set(chosen.subarray(j * d, (j + 1) * d), i * d);
        r.set(rejected.subarray(j * d, (j + 1) * d), i * d);
      }
      cursor = (cursor + b) % n;
      return { chosen: tf.tensor(c, [b, ...SHAPE]), rejected: tf.tensor(r, [b, ...SHAPE]), prompts: Array.from({ length: b }, (_, i) => `p${i}`) };
    },
    getState: () => ({ cursor }),
    setState: (s: { cursor: number }) => void (cursor = s.cursor),
  };
}

async function child(backend: 'wasm' | 'cpu', threads: number, steps: number): Promise<void> {
  const info = await initEngine({ backend, threads });
  const policy = new TinyUNet({ inChannels: 4, seed: 0 });
  const params = policy.trainableVariables.reduce((a, v) => a + v.size, 0);
  const condRng = createRng('cond');
  const pooled = condRng.normalArray(PAIRS * 32);
  const trainer = new PreferenceTrainer({
    policy,
    data: pairSource(),
    schedule: createSchedule({ num_train_timesteps: 1000 }),
    conditioner: (p) => ({ pooled: tf.tensor2d(pooled.subarray(0, p.length * 32), [p.length, 32]) }),
    config: {
      maxSteps: steps + 5,
      batchSize: PAIRS,
      loss: { name: 'diffusion-dpo', options: { beta: 5000 } },
      optimizer: { lr: 1e-5 },
      maxGradNorm: 1,
      logEvery: 10,
      seed: 0,
    },
  });
  const warm = 5;
  const t: StepTimings[] = [];
  const counts: number[] = [];
  let peakRss = 0;
  for await (const e of trainer.run()) {
    if (e.type !== 'step') continue;
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    if (e.step <= warm) continue;
    t.push({ ...trainer.lastTimings });
    counts.push(tf.memory().numTensors);
  }
  const m = (k: keyof StepTimings) => median(t.map((x) => x[k]));
  const total = m('totalMs');
  // the share of each part, from sums (medians of parts need not add up to the median total)
  const sum = (k: keyof StepTimings) => t.reduce((a, x) => a + x[k], 0);
  const all = sum('totalMs');
  // same log phase: steps that are multiples of logEvery hold no interval buffers
  const phase = counts.filter((_, i) => (i + warm + 1) % 10 === 1);
  console.log(
    JSON.stringify({
      backend: info.backend,
      threads: info.threads ?? threads,
      params,
      steps: t.length,
      msStep: total,
      msMin: Math.min(...t.map((x) => x.totalMs)),
      msP10: quantile(t.map((x) => x.totalMs), 0.1),
      pairsPerSec: (PAIRS * 1000) / total,
      share: {
        data: sum('dataMs') / all,
        reference: sum('referenceMs') / all,
        policy: sum('policyMs') / all,
        optimizer: sum('optimizerMs') / all,
      },
      ms: { data: m('dataMs'), reference: m('referenceMs'), policy: m('policyMs'), optimizer: m('optimizerMs') },
      tensorsFirst: counts[0],
      tensorsLast: counts[counts.length - 1],
      tensorsPhaseMin: Math.min(...phase),
      tensorsPhaseMax: Math.max(...phase),
      peakRssMiB: peakRss / 2 ** 20,
    }),
  );
  trainer.dispose();
  policy.dispose();
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args[0] === '--child') {
    await child(args[1] as 'wasm' | 'cpu', Number(args[2]), Number(args[3]));
    return;
  }
  const si = args.indexOf('--steps');
  const steps = si >= 0 ? Number(args[si + 1]) : 200;
  const configs: [string, number, number][] = [
    ['wasm', 1, steps],
    ['wasm', 2, steps],
  ];
  if (args.includes('--cpu')) configs.push(['cpu', 1, 3]);
  const rows: Record<string, unknown>[] = [];
  for (const [b, th, n] of configs) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--child', b, String(th), String(n)], { encoding: 'utf8', maxBuffer: 1 << 26 });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
    if (r.status !== 0 || !line) {
      console.error(`${b}/${th} failed:\n${r.stderr.slice(-2000)}`);
      process.exitCode = 1;
      continue;
    }
    rows.push(JSON.parse(line));
  }
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  console.log('| backend | threads | steps | ms/step (median) | p10 | min | pairs/s (median) | data+noise | reference fwd | policy fwd+bwd | optimizer etc. | SDK overhead | tensors (first → last) | peak RSS MiB |');
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|');
  for (const r of rows as any[]) {
    const s = r.share;
    console.log(
      `| ${r.backend} | ${r.threads} | ${r.steps} | ${r.msStep.toFixed(1)} | ${r.msP10.toFixed(1)} | ${r.msMin.toFixed(1)} | ${r.pairsPerSec.toFixed(1)} | ${pct(s.data)} | ${pct(s.reference)} | ${pct(s.policy)} | ${pct(s.optimizer)} | ${pct(1 - s.reference - s.policy)} | ${r.tensorsFirst} → ${r.tensorsLast} (same log phase: ${r.tensorsPhaseMin}..${r.tensorsPhaseMax}) | ${r.peakRssMiB.toFixed(0)} |`,
    );
  }
}

await main();
