/**
 * When the threaded wasm binary cannot start, initEngine falls back to the single-threaded
 * SIMD binary and says so (own process: vitest forks per file).
 */
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { engineTestHooks, initEngine } from '../../src/core/engine.js';

describe('initEngine threaded-wasm fallback', () => {
  it('runs single-threaded SIMD and reports why', async () => {
    delete process.env.PREFKIT_THREADS;
    delete process.env.PREFKIT_BACKEND;
    engineTestHooks.failThreadedWasm(true);
    try {
      const info = await initEngine({ backend: 'wasm', threads: 2 });
      expect(info.backend).toBe('wasm');
      expect(info.threads).toBe(1);
      expect(info.simd).toBe(true);
      expect(info.notes).toHaveLength(1);
      expect(info.notes[0]).toMatch(/^threaded wasm failed to start \(threaded start disabled by a test hook\); using the single-threaded SIMD binary$/);
      expect(tf.getBackend()).toBe('wasm');
      expect(Array.from(tf.tidy(() => tf.add(tf.tensor1d([1, 2]), 1).dataSync()))).toEqual([2, 3]);
      // globals are restored
      expect(globalThis.Blob.name).toBe('Blob');
    } finally {
      engineTestHooks.failThreadedWasm(false);
    }
  });
});
