/**
 * Synchronous validation of label tensors (data, not model outputs: a bad label is a
 * {@link ConfigError}, not a metric).
 * @module
 */
import type * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';

/** Throw unless every value is in [lo, hi] (NaN fails). Reads the tensor synchronously. @internal */
export function assertValuesInRange(t: tf.Tensor, lo: number, hi: number, name: string, fn: string): void {
  const v = t.dataSync();
  for (let i = 0; i < v.length; i++) {
    const x = v[i];
    if (!(x >= lo && x <= hi)) {
      throw new ConfigError(`Argument '${name}' to ${fn} has value ${x} at flat index ${i}, expected values in [${lo}, ${hi}].`);
    }
  }
}

/** Throw unless every value is one of `allowed`. Returns the values. @internal */
export function assertValuesIn(t: tf.Tensor, allowed: readonly number[], name: string, fn: string): Float32Array | Int32Array | Uint8Array {
  const v = t.dataSync() as Float32Array | Int32Array | Uint8Array;
  for (let i = 0; i < v.length; i++) {
    if (!allowed.includes(v[i])) {
      throw new ConfigError(`Argument '${name}' to ${fn} has value ${v[i]} at flat index ${i}, expected one of ${allowed.join(', ')}.`);
    }
  }
  return v;
}
