/**
 * The threaded wasm binary under Node (vitest runs this file in its own forked process, so
 * the pool size is this file's choice).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng } from '../../src/core/random.js';
import { relErr } from '../helpers/numeric.js';

describe('initEngine({ backend: "wasm", threads: 2 })', () => {
  it('starts the threaded SIMD binary with 2 threads and computes conv gradients as cpu does', async () => {
    delete process.env.PREFKIT_THREADS;
    delete process.env.PREFKIT_BACKEND;
    const info = await initEngine({ backend: 'wasm', threads: 2 });
    expect(info.notes).toEqual([]);
    expect(info.threads).toBe(2);
    expect(info.simd).toBe(true);
    const rng = createRng(7);
    const xv = rng.normalArray(4 * 12 * 12 * 16);
    const fv = rng.normalArray(3 * 3 * 16 * 32);
    const out: Record<string, Float32Array[]> = {};
    for (const be of ['wasm', 'cpu'] as const) {
      await tf.setBackend(be);
      out[be] = tf.tidy(() => {
        const x = tf.tensor4d(xv, [4, 12, 12, 16]);
        const f = tf.tensor4d(fv, [3, 3, 16, 32]);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'same'))))([x, f]);
        return g.map((t) => t.dataSync() as Float32Array);
      });
    }
    for (let i = 0; i < 2; i++) {
      expect(relErr(out.wasm[i], out.cpu[i])).toBeLessThan(1e-4);
    }
  });
});
