/** Shared helpers for the loss tests. */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** Flatten nested number arrays. */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap(flat) : [x as number];
}

/** Shape of a nested number array. */
export function shapeOf(x: unknown): number[] {
  const s: number[] = [];
  let cur: unknown = x;
  while (Array.isArray(cur)) {
    s.push(cur.length);
    cur = cur[0];
  }
  return s;
}

/** A float32 tensor from a nested array. */
export function tensorOf(x: unknown): tf.Tensor {
  return tf.tensor(flat(x), shapeOf(x), 'float32');
}

/** Assert |a − e| ≤ atol + rtol·|e| elementwise, with a readable message. */
export function expectClose(actual: number[] | Float32Array | number, expected: number[] | number, rtol = 1e-4, atol = 1e-6, what = ''): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : expected;
  expect(a.length, `${what} length`).toBe(e.length);
  for (let i = 0; i < e.length; i++) {
    const tol = atol + rtol * Math.abs(e[i]);
    if (!(Math.abs(a[i] - e[i]) <= tol)) {
      throw new Error(`${what}[${i}]: got ${a[i]}, expected ${e[i]} (|diff| ${Math.abs(a[i] - e[i])} > tol ${tol})`);
    }
  }
}

/** Read a scalar. */
export const val = (t: tf.Tensor): number => t.dataSync()[0];
