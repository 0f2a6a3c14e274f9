/**
 * Tensor-leak assertions for tests (STYLE.md section 6), after tfjs-layers'
 * `expectNoLeakedTensors` (tfjs-layers/src/utils/test_utils.ts).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/**
 * Run `fn` once to warm up (lazy caches, variables created on first use), then once more
 * while counting, and assert that `tf.memory().numTensors` grew by exactly `expectedNew`.
 * As in tfjs-layers, what `fn` returns is NOT disposed: a returned tensor counts as one new
 * tensor (pass `expectedNew = 1`, or dispose inside `fn`). Also asserts the backend's data
 * buffers grew no more than that (catches kernels that leak temporaries).
 *
 * Synchronous `fn` → checked synchronously and the second result is returned; async `fn` →
 * a Promise (await it).
 *
 * @param fn - the code under test.
 * @param expectedNew - tensors the second run may leave behind (default 0).
 * @returns the second run's result.
 * @example
 * expectNoLeakedTensors(() => tf.tidy(() => { myLoss(a, b).dispose(); }));
 * const out = expectNoLeakedTensors(() => myOp(x), 1); out.dispose();
 */
export function expectNoLeakedTensors<T>(fn: () => Promise<T>, expectedNew?: number): Promise<T>;
export function expectNoLeakedTensors<T>(fn: () => T, expectedNew?: number): T;
export function expectNoLeakedTensors<T>(fn: () => T | Promise<T>, expectedNew = 0): T | Promise<T> {
  const first = fn();
  if (isPromise(first)) {
    return first.then(async () => {
      const snap = snapshot();
      const second = await fn();
      check(snap, expectedNew);
      return second;
    });
  }
  const snap = snapshot();
  const second = fn() as T;
  check(snap, expectedNew);
  return second;
}

function isPromise<T>(x: T | Promise<T>): x is Promise<T> {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

function snapshot(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: dataBuffers() };
}

function check(before: { tensors: number; buffers: number }, expectedNew: number): void {
  const after = snapshot();
  expect(after.tensors - before.tensors, `tensors left by the second run (numTensors ${before.tensors} -> ${after.tensors})`).toBe(expectedNew);
  if (before.buffers >= 0 && after.buffers >= 0) {
    expect(after.buffers - before.buffers, `backend data buffers leaked (${before.buffers} -> ${after.buffers})`).toBeLessThanOrEqual(Math.max(expectedNew, 0));
  }
}

function dataBuffers(): number {
  const b = tf.backend() as unknown as { numDataIds?: () => number };
  return typeof b.numDataIds === 'function' ? b.numDataIds() : -1;
}
