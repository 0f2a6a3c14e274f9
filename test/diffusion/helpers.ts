import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { expect } from 'vitest';

/** Start the engine on `name` (registers the wasm gradient kernels). */
export async function useBackend(name: 'wasm' | 'cpu' = 'wasm'): Promise<void> {
  await initEngine({ backend: name, threads: 1 });
}

/** Element-wise |a − b| ≤ atol + rtol·|b|, reporting the worst index. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = 1e-5, atol = 1e-6, label = ''): void {
  expect(actual.length, `${label} length`).toBe(expected.length);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (atol + rtol * Math.abs(expected[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    expect.fail(`${label}: element ${worst}: got ${actual[worst]}, expected ${expected[worst]} (rtol ${rtol}, atol ${atol})`);
  }
}

/** Run `fn` once to warm up, then again and assert tf.memory().numTensors grew by exactly `expectedNew`. */
export function expectNoLeak(fn: () => tf.TensorContainer, expectedNew = 0): void {
  tf.dispose(fn());
  const before = tf.memory().numTensors;
  const out = fn();
  const after = tf.memory().numTensors;
  tf.dispose(out);
  const outCount = countTensors(out);
  expect(after - before - outCount, 'tensors leaked').toBe(expectedNew);
}

function countTensors(x: unknown): number {
  if (x instanceof tf.Tensor) return 1;
  if (Array.isArray(x)) return x.reduce((a: number, v) => a + countTensors(v), 0);
  if (x && typeof x === 'object') return Object.values(x).reduce((a: number, v) => a + countTensors(v), 0);
  return 0;
}
