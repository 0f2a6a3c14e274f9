/**
 * One training step (forward, backward, Adam) of a small conv net on the wasm backend
 * (1 thread and the default thread count) and on the pure-JS cpu backend.
 * Each configuration runs in its own process (the wasm pool size is fixed per process).
 *
 *   npx tsx bench/conv-step.bench.ts            # all configurations, markdown table
 *   npx tsx bench/conv-step.bench.ts --child wasm 2   # one configuration, JSON line
 *
 * Net: x [8, 16, 16, 4] → conv3 4→32 (+bias, relu) → conv3/2 32→64 (relu) → conv3 64→64 (relu)
 * → mean over H, W → dense 64→1, MSE loss; Adam lr 1e-3. ~0.2 GFLOP per step.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/core/engine.js';
import { createRng } from '../src/core/random.js';

const B = 8;
const here = fileURLToPath(import.meta.url);

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
}

async function child(backend: 'wasm' | 'cpu', threads: number): Promise<void> {
  const info = await initEngine({ backend, threads });
  const rng = createRng(1);
  const u = (shape: number[], fanIn: number) => {
    const b = 1 / Math.sqrt(fanIn);
    return tf.variable(tf.tensor(rng.uniformArray(shape.reduce((a, c) => a * c, 1), -b, b), shape));
  };
  const P = {
    c1: u([3, 3, 4, 32], 36),
    b1: u([32], 36),
    c2: u([3, 3, 32, 64], 288),
    c3: u([3, 3, 64, 64], 576),
    d: u([64, 1], 64),
  };
  const x = tf.tensor4d(rng.normalArray(B * 16 * 16 * 4), [B, 16, 16, 4]);
  const y = tf.tensor2d(rng.normalArray(B), [B, 1]);
  const opt = tf.train.adam(1e-3);
  const loss = () =>
    tf.tidy(() => {
      let h = tf.fused.conv2d({ x, filter: P.c1 as tf.Tensor4D, strides: 1, pad: 'same', bias: P.b1, activation: 'relu' });
      h = tf.relu(tf.conv2d(h, P.c2 as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]]));
      h = tf.relu(tf.conv2d(h, P.c3 as tf.Tensor4D, 1, 'same'));
      const pred = tf.matMul(tf.mean(h, [1, 2]), P.d);
      return tf.mean(tf.square(tf.sub(pred, y))) as tf.Scalar;
    });
  const warm = backend === 'cpu' ? 1 : 5;
  const steps = backend === 'cpu' ? 3 : 30;
  const times: number[] = [];
  const losses: number[] = [];
  for (let i = 0; i < warm + steps; i++) {
    const t0 = performance.now();
    const l = opt.minimize(loss, true) as tf.Scalar;
    losses.push(l.dataSync()[0]); // sync point: the step is finished
    l.dispose();
    if (i >= warm) times.push(performance.now() - t0);
  }
  console.log(JSON.stringify({ backend, threads: info.threads, notes: info.notes, steps, ms: median(times), min: Math.min(...times), firstLoss: losses[0], lastLoss: losses.at(-1) }));
}

function main(): void {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  const configs: Array<[string, number]> = [['wasm', 1], ...(cores > 1 ? ([['wasm', cores]] as Array<[string, number]>) : []), ['cpu', 1]];
  const rows: Array<{ backend: string; threads: number; ms: number; min: number; steps: number; notes: string[] }> = [];
  for (const [be, th] of configs) {
    const r = spawnSync(process.execPath, ['--import', 'tsx', here, '--child', be, String(th)], { encoding: 'utf8', env: { ...process.env, PREFKIT_BACKEND: '', PREFKIT_THREADS: '' } });
    const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
    if (r.status !== 0 || !line) {
      console.error(`${be}/${th} failed:\n${r.stderr}`);
      process.exitCode = 1;
      continue;
    }
    rows.push(JSON.parse(line));
  }
  const cpu = rows.find((r) => r.backend === 'cpu');
  console.log('\n| backend | threads | ms/step (median) | min | steps | cpu ÷ this |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const ratio = cpu ? (cpu.ms / r.ms).toFixed(1) : '-';
    console.log(`| ${r.backend} | ${r.threads} | ${r.ms.toFixed(1)} | ${r.min.toFixed(1)} | ${r.steps} | ${ratio}x |${r.notes.length ? ' ' + r.notes.join('; ') : ''}`);
  }
}

const i = process.argv.indexOf('--child');
if (i >= 0) await child(process.argv[i + 1] as 'wasm' | 'cpu', Number(process.argv[i + 2]));
else main();
