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
export function expectClose(actual: ArrayLike<number> | number, expected: ArrayLike<number> | number, rtol = 1e-4, atol = 1e-6, what = ''): void {
  const a = typeof actual === 'number' ? [actual] : Array.from(actual);
  const e = typeof expected === 'number' ? [expected] : Array.from(expected);
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

/**
 * Central finite-difference directional derivatives of a scalar function of several tensors,
 * compared with tf.grads: for a few fixed directions v, (f(x + h v) − f(x − h v)) / 2h ≈ ⟨∇f, v⟩.
 */
export function checkGradFiniteDiff(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  xs: tf.Tensor[],
  { h = 1e-2, rtol = 2e-2, atol = 1e-5, directions = 3, seed = 7 }: { h?: number; rtol?: number; atol?: number; directions?: number; seed?: number } = {},
): void {
  const grads = tf.grads((...a: tf.Tensor[]) => f(...a))(xs);
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
  for (let d = 0; d < directions; d++) {
    const vs = xs.map((x) => tf.tensor(Array.from({ length: x.size }, rand), x.shape));
    const analytic = grads.reduce((acc, g, i) => acc + tf.tidy(() => val(tf.sum(tf.mul(g, vs[i])))), 0);
    const fp = tf.tidy(() => val(f(...xs.map((x, i) => tf.add(x, tf.mul(vs[i], h))))));
    const fm = tf.tidy(() => val(f(...xs.map((x, i) => tf.sub(x, tf.mul(vs[i], h))))));
    const numeric = (fp - fm) / (2 * h);
    const tol = atol + rtol * Math.max(Math.abs(numeric), Math.abs(analytic));
    if (!(Math.abs(numeric - analytic) <= tol)) {
      throw new Error(`finite differences: direction ${d}: numeric ${numeric}, analytic ${analytic} (|diff| ${Math.abs(numeric - analytic)} > ${tol})`);
    }
    tf.dispose(vs);
  }
  tf.dispose(grads);
}

/** A [B, ...shape] tensor of deterministic pseudo-random values in [−scale, scale]. */
export function pseudoRandom(shape: number[], seed: number, scale = 1): tf.Tensor {
  let s = seed;
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return (2 * (s / 2147483648) - 1) * scale;
  });
  return tf.tensor(v, shape);
}
