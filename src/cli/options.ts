/**
 * Flag parsers for commander that reject bad values with a message saying what is accepted.
 * @module
 */
import { InvalidArgumentError } from 'commander';

/** Parse a positive integer flag. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(`Expected a positive integer, got "${value}".`);
  return n;
}

/** Parse a non-negative integer flag (a seed). */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`Expected a non-negative integer, got "${value}".`);
  return n;
}

/** Parse a finite number flag. */
export function finiteNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError(`Expected a number, got "${value}".`);
  return n;
}

/** Backends accepted by `--backend`. */
export const BACKENDS = ['auto', 'wasm', 'cpu', 'tensorflow'] as const;
