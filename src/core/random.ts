/**
 * Seeded, splittable random numbers (xoshiro128**, seeded through SplitMix32).
 * Every random draw in prefkit takes an {@link Rng}; its state serialises, so a
 * resumed run continues the same stream.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError } from '../errors.js';

/** Serialisable RNG state: four 32-bit words. */
export interface RngState {
  readonly algorithm: 'xoshiro128**';
  readonly s: readonly [number, number, number, number];
}

/** A seeded random stream. */
export interface Rng {
  /** Uniform float in [0, 1). */
  uniform(): number;
  /** Uniform float in [lo, hi). */
  uniformIn(lo: number, hi: number): number;
  /** Integer uniform in [lo, hi) (hi exclusive). */
  int(lo: number, hi: number): number;
  /** Standard normal draw. */
  normal(): number;
  /** `n` uniform floats in [lo, hi). */
  uniformArray(n: number, lo?: number, hi?: number): Float32Array;
  /** `n` standard normal draws (mean 0, std 1). */
  normalArray(n: number): Float32Array;
  /** Shuffle a copy of `items` (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /**
   * A new, independent stream derived from this one's current state and `label`.
   * Does not advance this stream, so splitting is repeatable.
   */
  split(label?: string | number): Rng;
  /** Snapshot of the state (JSON-serialisable). */
  getState(): RngState;
  /** Restore a snapshot taken with {@link Rng.getState}. */
  setState(state: RngState): void;
}

function splitmix32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x9e3779b9) >>> 0;
    let z = a;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function hashString(s: string): number {
  // FNV-1a 32-bit
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function seedWords(seed: number | string): [number, number, number, number] {
  let base: number;
  if (typeof seed === 'string') base = hashString(seed);
  else {
    if (!Number.isFinite(seed)) throw new ConfigError(`Seed must be a finite number or a string, got ${seed}.`);
    // fold the high bits of large integers in
    base = (Math.trunc(seed) >>> 0) ^ (Math.floor(Math.trunc(seed) / 2 ** 32) >>> 0);
  }
  const sm = splitmix32(base);
  const s: [number, number, number, number] = [sm(), sm(), sm(), sm()];
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  return s;
}

const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;

class Xoshiro128 implements Rng {
  private s: Uint32Array;
  constructor(words: readonly number[]) {
    this.s = Uint32Array.from(words);
  }
  private nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }
  uniform(): number {
    // 53 bits from two draws
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }
  uniformIn(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new ConfigError(`Rng.int: empty range [${lo}, ${hi}).`);
    return lo + Math.floor(this.uniform() * (hi - lo));
  }
  normal(): number {
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  uniformArray(n: number, lo = 0, hi = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * this.uniform();
    return out;
  }
  normalArray(n: number): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i += 2) {
      let u = 0;
      while (u === 0) u = this.uniform();
      const v = this.uniform();
      const r = Math.sqrt(-2 * Math.log(u));
      out[i] = r * Math.cos(2 * Math.PI * v);
      if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
    }
    return out;
  }
  shuffle<T>(items: readonly T[]): T[] {
    const a = items.slice();
    for (let i = a.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const tmp = a[i];
      a[i] = a[j];
      a[j] = tmp;
    }
    return a;
  }
  split(label: string | number = 0): Rng {
    const h = typeof label === 'string' ? hashString(label) : (label >>> 0) ^ 0x5bd1e995;
    const sm = splitmix32((this.s[0] ^ rotl(this.s[1], 7) ^ rotl(this.s[2], 13) ^ rotl(this.s[3], 19) ^ h) >>> 0);
    const w: [number, number, number, number] = [sm() ^ this.s[3], sm() ^ this.s[2], sm() ^ this.s[1], sm() ^ this.s[0]].map(
      (x) => x >>> 0,
    ) as [number, number, number, number];
    if ((w[0] | w[1] | w[2] | w[3]) === 0) w[0] = 1;
    return new Xoshiro128(w);
  }
  getState(): RngState {
    return { algorithm: 'xoshiro128**', s: [this.s[0], this.s[1], this.s[2], this.s[3]] };
  }
  setState(state: RngState): void {
    if (!state || state.algorithm !== 'xoshiro128**' || !Array.isArray(state.s) || state.s.length !== 4) {
      throw new ConfigError(`Invalid RNG state: expected { algorithm: 'xoshiro128**', s: [4 uint32] }.`);
    }
    this.s = Uint32Array.from(state.s);
  }
}

/**
 * Create a seeded random stream.
 * @param seed - a number or a string; the same seed always gives the same stream.
 * @example
 * const rng = createRng(42);
 * const eps = rng.normalArray(16);
 * const child = rng.split('noise');
 */
export function createRng(seed: number | string): Rng {
  return new Xoshiro128(seedWords(seed));
}

/** Recreate a stream from a saved {@link RngState}. */
export function rngFromState(state: RngState): Rng {
  const r = new Xoshiro128([1, 0, 0, 0]);
  r.setState(state);
  return r;
}

/**
 * A float32 tensor of standard normal draws from `rng`.
 * @param shape - the tensor shape.
 */
export function randomNormal(rng: Rng, shape: readonly number[]): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.normalArray(n), [...shape], 'float32');
}

/** A float32 tensor of uniform draws in [lo, hi) from `rng`. */
export function randomUniform(rng: Rng, shape: readonly number[], lo = 0, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(rng.uniformArray(n, lo, hi), [...shape], 'float32');
}
