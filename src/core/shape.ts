/**
 * Shape assertions with messages that name the argument and the function.
 * @module
 */
import type * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';

/** One expected dimension: a size, `null` for any size, or a named size that must agree across calls sharing `dims`. */
export type DimSpec = number | null | string;

/**
 * Assert that a tensor has the expected shape.
 *
 * @param t - the tensor (or its shape).
 * @param expected - one entry per dimension: a number, `null` (any) or a symbol such as `'B'`
 *   whose value is bound on first use in `dims` and must match afterwards.
 * @param name - the argument name, e.g. `'policyChosen'`.
 * @param fn - the calling function, e.g. `'diffusionDpoLoss'`.
 * @param dims - bindings for named dimensions, shared across calls.
 * @throws {ShapeError} naming the argument, what it got and what it expected.
 * @example
 * const dims = {};
 * assertShape(a, ['B'], 'policyChosen', 'diffusionDpoLoss', dims);
 * assertShape(b, ['B'], 'policyRejected', 'diffusionDpoLoss', dims);
 */
export function assertShape(
  t: tf.Tensor | readonly number[],
  expected: readonly DimSpec[],
  name: string,
  fn = 'prefkit',
  dims: Record<string, number> = {},
): void {
  const shape = Array.isArray(t) ? (t as readonly number[]) : (t as tf.Tensor).shape;
  const want = () =>
    '[' + expected.map((d) => (d === null ? '*' : typeof d === 'string' ? (dims[d] !== undefined ? `${d}=${dims[d]}` : d) : String(d))).join(', ') + ']';
  const fail = (): never => {
    throw new ShapeError(`Argument '${name}' to ${fn} has shape [${shape.join(', ')}], expected ${want()}.`, {
      argument: name,
      actual: [...shape],
      expected: expected.map((d) => (typeof d === 'string' ? (dims[d] ?? null) : d)),
    });
  };
  if (shape.length !== expected.length) fail();
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i];
    const s = shape[i];
    if (e === null) continue;
    if (typeof e === 'number') {
      if (s !== e) fail();
    } else if (dims[e] === undefined) {
      dims[e] = s;
    } else if (dims[e] !== s) {
      fail();
    }
  }
}

/** Assert that a tensor has rank `rank`. @throws {ShapeError} */
export function assertRank(t: tf.Tensor, rank: number, name: string, fn = 'prefkit'): void {
  if (t.rank !== rank) {
    throw new ShapeError(`Argument '${name}' to ${fn} has rank ${t.rank} (shape [${t.shape.join(', ')}]), expected rank ${rank}.`, {
      argument: name,
      actual: [...t.shape],
    });
  }
}
