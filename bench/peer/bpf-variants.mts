// Experiment (reverted): per-layer CPU ms of Conv2DBackpropFilter variants on the TinyUNet layer shapes,
// 1 thread. Run: npx tsx bench/peer/bpf-variants.mts conv,unfold  (variants via env PREFKIT_BPF).
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
await initEngine({ backend: 'wasm', threads: 1 });
const L: [number, number, number, number, number, number][] = [ // H, Ci, Co, K, stride, count
  [16, 4, 32, 3, 1, 1], [16, 32, 32, 3, 1, 2], [16, 32, 32, 3, 2, 1], [8, 32, 64, 3, 1, 1], [8, 64, 64, 3, 1, 4],
  [8, 32, 64, 1, 1, 1], [8, 128, 64, 3, 1, 1], [8, 128, 64, 1, 1, 1], [16, 64, 64, 3, 1, 1], [16, 96, 32, 3, 1, 1],
  [16, 32, 32, 3, 1, 1], [16, 96, 32, 1, 1, 1], [16, 32, 4, 3, 1, 1],
];
const tot: Record<string, number> = {};
for (const [H, Ci, Co, K, st, n] of L) {
  const x = tf.randomNormal([8, H, H, Ci]);
  const OH = Math.ceil(H / st);
  const dy = tf.randomNormal([8, OH, OH, Co]);
  const row: string[] = [];
  const vs = (process.argv[2] ?? 'conv,unfold').split(','); for (const v of [...vs, ...vs]) {
    process.env.PREFKIT_BPF = v;
    const run = () => tf.tidy(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: st, pad: 'same', dataFormat: 'NHWC', filterShape: [K, K, Ci, Co] }) as tf.Tensor);
    for (let i = 0; i < 3; i++) (run() as tf.Tensor).dispose();
    const c0 = process.cpuUsage();
    const R = 20;
    for (let i = 0; i < R; i++) (run() as tf.Tensor).dataSync();
    const c = process.cpuUsage(c0);
    const ms = (c.user + c.system) / 1000 / R;
    row.push(`${v} ${ms.toFixed(3)} (unf ${(((globalThis as Record<string, any>).__unf ?? 0) / R).toFixed(3)})`); (globalThis as Record<string, any>).__unf = 0;
    tot[v] = (tot[v] ?? 0) + (ms * n) / 2;
  }
  console.log(`H${H} ${Ci}->${Co} k${K} s${st} x${n}: ${row.join(' | ')}`);
}
console.log('total per step (ms):', tot);
