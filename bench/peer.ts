/**
 * `npm run bench:peer`: one Diffusion-DPO training step of prefkit's TinyUNet at the bench-peer
 * reference spec (416,676 parameters, B = 4 pairs, 16×16×4 latents; ../shared/bench-peer/README.md)
 * through PreferenceTrainer on the wasm engine, timed after warm-up as the median over many steps
 * and split by phase; and, in the same run, the PyTorch peer (bench/peer/torch_step.py) on the same
 * spec and thread count, with the ratio.
 *
 *   npm run bench:peer -- [--steps 30] [--warmup 5] [--threads N] [--no-torch] [--install-torch]
 *                         [--profile] [--json FILE] [--dp] [--repeat N]
 *
 * --profile   per-kernel breakdown (tf.profile) of one step
 * --repeat N  N interleaved rounds of (PyTorch, prefkit) in one run; prints every round's ratio
 *             and their median (the machine's speed drifts by ±10 % between runs)
 * --dp        also measure two single-threaded processes on B/2 each, side by side (the
 *             data-parallel alternative to one 2-thread engine; gradient exchange not included)
 * --install-torch  apt-get install python3-torch when `import torch` fails (needs root)
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/core/engine.js';
import { createRng } from '../src/core/random.js';
import { buildPeerRig, FULL_SPEC, peerSchedule, type PeerSpec } from './peer/setup.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const PHASES = ['policy_forward', 'backward', 'reference_forward', 'optimizer', 'other'] as const;
type Phase = (typeof PHASES)[number];

interface Args {
  steps: number;
  warmup: number;
  threads: number;
  torch: boolean;
  installTorch: boolean;
  profile: boolean;
  json?: string;
  dp: boolean;
  repeat: number;
  child: boolean;
  B: number;
}

function parseArgs(argv: string[]): Args {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const a: Args = { steps: 30, warmup: 5, threads: cores, torch: true, installTorch: false, profile: false, dp: false, repeat: 1, child: false, B: FULL_SPEC.B };
  for (let i = 0; i < argv.length; i++) {
    const s = argv[i];
    const num = () => Number(argv[++i]);
    if (s === '--steps') a.steps = num();
    else if (s === '--warmup') a.warmup = num();
    else if (s === '--threads') a.threads = num();
    else if (s === '--B') a.B = num();
    else if (s === '--no-torch') a.torch = false;
    else if (s === '--install-torch') a.installTorch = true;
    else if (s === '--profile') a.profile = true;
    else if (s === '--dp') a.dp = true;
    else if (s === '--repeat') a.repeat = num();
    else if (s === '--child') a.child = true;
    else if (s === '--json') a.json = argv[++i];
    else if (s === '--') continue;
    else throw new Error(`Unknown argument ${s}. See the header of bench/peer.ts.`);
  }
  if (!Number.isInteger(a.repeat) || a.repeat < 1) throw new Error(`--repeat must be a positive integer, got ${a.repeat}.`);
  return a;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length ? s[Math.floor(s.length / 2)] : NaN;
};

interface PrefkitResult {
  engine: string;
  threads: number;
  B: number;
  params: number;
  steps: number;
  ms_step: number;
  ms_step_min: number;
  /** CPU time (all threads of the process) per step, median: less sensitive to a loaded machine. */
  cpu_ms_step: number;
  parts_ms: Record<Phase, number>;
  numTensors: number[];
  leak_free: boolean;
  first_loss: number;
  last_loss: number;
  notes: readonly string[];
  profile?: { kernel: string; calls: number; ms: number; pct: number }[];
}

async function runPrefkit(a: Args): Promise<PrefkitResult> {
  const info = await initEngine({ backend: 'wasm', threads: a.threads });
  const spec: PeerSpec = { ...FULL_SPEC, B: a.B };
  const B = spec.B;
  const rng = createRng('bench-peer');
  const x0 = tf.tensor4d(rng.normalArray(2 * B * spec.hw * spec.hw * spec.lat_c), [2 * B, spec.hw, spec.hw, spec.lat_c]);
  const cond = tf.tensor2d(rng.normalArray(B * spec.cond_dim), [B, spec.cond_dim]);
  const rig = buildPeerRig({ spec, x0, cond, seed: 0 });
  x0.dispose();
  const { trainer, policy } = rig;
  const params = policy.trainableVariables.reduce((s, v) => s + v.size, 0);

  // optimizer time: wrap the flat AdamW update (wasm runs ops synchronously, so wall time is real)
  let optMs = 0;
  const opt = trainer.optimizer;
  const realUpdate = opt.update.bind(opt);
  opt.update = (g, lr, o) => {
    const t0 = performance.now();
    const r = realUpdate(g, lr, o);
    optMs = performance.now() - t0;
    return r;
  };

  // policy forward alone (same batch size, no tape): splits the trainer's policy time into
  // forward and backward
  const schedule = peerSchedule();
  const fwdBatch = tf.tidy(() => {
    const t = Array.from({ length: 2 * B }, (_, i) => (i * 137) % 1000);
    const xb = tf.tensor4d(rng.normalArray(2 * B * spec.hw * spec.hw * spec.lat_c), [2 * B, spec.hw, spec.hw, spec.lat_c]);
    const noise = tf.randomNormal(xb.shape, 0, 1, 'float32', 3);
    return { xt: schedule.addNoise(xb, noise, t), noise, t: tf.tensor1d(t), pooled: tf.concat([cond, cond], 0) };
  });
  const forwardOnce = () =>
    tf.tidy(() => {
      const pred = policy.predict(fwdBatch.xt, fwdBatch.t, { pooled: fwdBatch.pooled });
      return tf.mean(tf.squaredDifference(pred, fwdBatch.noise), [1, 2, 3]);
    });

  const steps: number[] = [];
  const cpuSteps: number[] = [];
  let warmLoss = NaN;
  const cpuNow = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const parts: Record<Phase, number[]> = { policy_forward: [], backward: [], reference_forward: [], optimizer: [], other: [] };
  const fwd: number[] = [];
  const numTensors: number[] = [];
  for (let i = 0; i < a.warmup + a.steps; i++) {
    // forward-only sample, outside the timed step
    const f0 = performance.now();
    forwardOnce().dispose();
    const fMs = performance.now() - f0;
    const c0 = cpuNow();
    const t0 = performance.now();
    await trainer.trainStep();
    const ms = performance.now() - t0;
    const cpuMs = cpuNow() - c0;
    numTensors.push(tf.memory().numTensors);
    if (i === a.warmup - 1) warmLoss = (await trainer.readMetrics(trainer.currentLr())).loss;
    if (i < a.warmup) continue;
    const tm = trainer.lastTimings;
    steps.push(ms);
    cpuSteps.push(cpuMs);
    fwd.push(fMs);
    parts.reference_forward.push(tm.referenceMs);
    parts.policy_forward.push(fMs);
    parts.backward.push(Math.max(tm.policyMs - fMs, 0));
    parts.optimizer.push(optMs);
    parts.other.push(Math.max(ms - tm.referenceMs - tm.policyMs - optMs, 0));
  }
  const timedLoss = (await trainer.readMetrics(trainer.currentLr())).loss;
  let profile: PrefkitResult['profile'];
  if (a.profile) {
    const p = await tf.profile(async () => {
      await trainer.trainStep();
    });
    const agg = new Map<string, { kernel: string; calls: number; ms: number; pct: number }>();
    let total = 0;
    for (const k of p.kernels) {
      if (k.name.endsWith('__op')) continue; // customGrad wrappers: counted inside
      const e = agg.get(k.name) ?? { kernel: k.name, calls: 0, ms: 0, pct: 0 };
      e.calls++;
      e.ms += k.kernelTimeMs as number;
      total += k.kernelTimeMs as number;
      agg.set(k.name, e);
    }
    profile = [...agg.values()].sort((x, y) => y.ms - x.ms);
    for (const e of profile) e.pct = (100 * e.ms) / total;
    const calls = profile.reduce((s, e) => s + e.calls, 0);
    console.error(`profile: ${calls} kernel calls, ${total.toFixed(1)} ms inside kernels (profiler overhead included)`);
  }
  await trainer.readMetrics(trainer.currentLr());
  tf.dispose([fwdBatch.xt, fwdBatch.noise, fwdBatch.t, fwdBatch.pooled]);
  rig.dispose();
  const steady = numTensors.slice(1);
  return {
    engine: 'prefkit-wasm',
    threads: info.threads,
    B,
    params,
    steps: a.steps,
    ms_step: median(steps),
    ms_step_min: Math.min(...steps),
    cpu_ms_step: median(cpuSteps),
    parts_ms: Object.fromEntries(PHASES.map((k) => [k, median(parts[k])])) as Record<Phase, number>,
    numTensors,
    leak_free: steady.every((n) => n === steady[0]),
    first_loss: warmLoss,
    last_loss: timedLoss,
    notes: info.notes,
    profile,
  };
}

interface TorchResult {
  threads: number;
  ms_step: number;
  cpu_ms_step: number;
  ms_step_min: number;
  parts_ms: Record<Phase, number>;
  params: number;
  torch: string;
  step_flops: number;
}

function torchAvailable(): boolean {
  return spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

function runTorch(a: Args): TorchResult | string {
  if (!torchAvailable()) {
    if (!a.installTorch) return 'python3 -c "import torch" fails; rerun with --install-torch (apt-get install python3-torch, as root) to include the PyTorch peer';
    const r = spawnSync('sh', ['-c', 'apt-get install -y -qq python3-torch python3-numpy'], { stdio: 'inherit' });
    if (r.status !== 0 || !torchAvailable()) return 'installing python3-torch failed';
  }
  const out = path.join(os.tmpdir(), `prefkit-peer-torch-${process.pid}.json`);
  const r = spawnSync('/usr/bin/python3', [path.join(here, 'peer', 'torch_step.py'), '--threads', String(a.threads), '--steps', String(a.steps), '--warmup', String(a.warmup), '--json', out], {
    encoding: 'utf8',
  });
  if (r.status !== 0) return `torch_step.py failed: ${r.stderr.slice(-500)}`;
  const j = JSON.parse(fs.readFileSync(out, 'utf8')) as TorchResult;
  fs.rmSync(out, { force: true });
  return j;
}

/** Two single-threaded prefkit processes on B/2 each, at the same time (data-parallel upper bound). */
async function runDataParallel(a: Args): Promise<{ ms_step: number; each: number[] }> {
  const half = Math.max(1, Math.floor(a.B / 2));
  const run = () =>
    new Promise<number>((resolve, reject) => {
      const p = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', '--threads', '1', '--B', String(half), '--steps', String(a.steps), '--warmup', String(a.warmup)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let s = '';
      p.stdout.on('data', (d) => (s += d));
      p.on('close', (code) => {
        const line = s.trim().split('\n').at(-1) ?? '';
        if (code !== 0) reject(new Error(`child exited ${code}`));
        else resolve((JSON.parse(line) as PrefkitResult).ms_step);
      });
    });
  const each = await Promise.all([run(), run()]);
  return { ms_step: Math.max(...each), each };
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  if (a.child) {
    console.log(JSON.stringify(await runPrefkit({ ...a, profile: false })));
    return;
  }
  // torch first, while this process is still idle (each side gets the whole machine); with
  // --repeat the two alternate, and the table below shows the last round
  const rounds: { torch: TorchResult | string; pk: PrefkitResult }[] = [];
  for (let r = 0; r < a.repeat; r++) {
    const t = a.torch ? runTorch(a) : 'skipped (--no-torch)';
    rounds.push({ torch: t, pk: await runPrefkit({ ...a, profile: a.profile && r === a.repeat - 1 }) });
  }
  const { torch, pk } = rounds[rounds.length - 1];
  const dp = a.dp ? await runDataParallel(a) : undefined;
  const rows: string[] = [];
  rows.push(`| engine | threads | ms/step (median) | min | policy fwd | backward | reference fwd | optimizer | other | ÷ PyTorch |`);
  rows.push('|---|---|---|---|---|---|---|---|---|---|');
  const tms = typeof torch === 'string' ? NaN : torch.ms_step;
  const row = (name: string, threads: number, r: { ms_step: number; ms_step_min: number; parts_ms: Record<Phase, number> }) =>
    `| ${name} | ${threads} | ${fmt(r.ms_step)} | ${fmt(r.ms_step_min)} | ${PHASES.map((k) => fmt(r.parts_ms[k])).join(' | ')} | ${Number.isFinite(tms) ? (r.ms_step / tms).toFixed(2) + 'x' : '-'} |`;
  if (typeof torch !== 'string') rows.push(row(`PyTorch ${torch.torch} CPU`, torch.threads, torch));
  rows.push(row('prefkit wasm', pk.threads, pk));
  if (dp) rows.push(`| prefkit wasm, 2 processes × B/2 (no gradient exchange) | 1+1 | ${fmt(dp.ms_step)} | ${dp.each.map(fmt).join(' / ')} | | | | | | ${Number.isFinite(tms) ? (dp.ms_step / tms).toFixed(2) + 'x' : '-'} |`);
  console.log(`\nDiffusion-DPO step, TinyUNet reference spec (${pk.params.toLocaleString('en-US')} parameters), B = ${pk.B} pairs, ${a.steps} timed steps after ${a.warmup} warm-up`);
  console.log(rows.join('\n'));
  if (typeof torch === 'string') console.log(`\nPyTorch peer: ${torch}`);
  console.log(
    `\nCPU time per step (all threads of the process; robust to a loaded machine): prefkit ${fmt(pk.cpu_ms_step)} ms` +
      (typeof torch !== 'string' ? `, PyTorch ${fmt(torch.cpu_ms_step)} ms, ratio ${(pk.cpu_ms_step / torch.cpu_ms_step).toFixed(2)}x` : '') +
      `; load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`,
  );
  console.log(`prefkit: tensors per step ${pk.leak_free ? 'flat' : 'NOT flat'} (${pk.numTensors.at(-1)}), mean loss over warm-up ${pk.first_loss.toFixed(4)}, over timed steps ${pk.last_loss.toFixed(4)}${pk.notes.length ? '; engine notes: ' + pk.notes.join('; ') : ''}`);
  if (Number.isFinite(tms)) console.log(`ratio prefkit / PyTorch: ${(pk.ms_step / tms).toFixed(2)}x (target <= 2.0)`);
  if (rounds.length > 1) {
    const col = (f: (x: (typeof rounds)[number]) => number) => rounds.map(f);
    const pks = col((x) => x.pk.ms_step);
    const tts = col((x) => (typeof x.torch === 'string' ? NaN : x.torch.ms_step));
    const ratios = pks.map((x, i) => x / tts[i]);
    console.log(
      `over ${rounds.length} interleaved rounds: prefkit ${pks.map(fmt).join(' / ')} ms, PyTorch ${tts.map(fmt).join(' / ')} ms` +
        (ratios.every(Number.isFinite) ? `, ratio ${ratios.map((x) => x.toFixed(2)).join(' / ')} (median ${median(ratios).toFixed(2)}x)` : ''),
    );
  }
  if (pk.profile) {
    console.log('\n| kernel | calls | ms | % |\n|---|---|---|---|');
    for (const e of pk.profile.slice(0, 20)) console.log(`| ${e.kernel} | ${e.calls} | ${e.ms.toFixed(2)} | ${e.pct.toFixed(1)} |`);
  }
  if (a.json) fs.writeFileSync(a.json, JSON.stringify({ prefkit: pk, torch, dp, rounds: rounds.length > 1 ? rounds : undefined }, null, 1));
}

await main();
