import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { createRng, randomNormal, randomUniform, rngFromState, type RngState } from '../../src/core/random.js';
import { ConfigError } from '../../src/errors.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';

const golden = JSON.parse(readFileSync(new URL('../golden/rng-xoshiro128.json', import.meta.url), 'utf8')) as {
  uniform: number[];
  state_after_8: number[];
};

function moments(a: ArrayLike<number>) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m += a[i];
  m /= a.length;
  let v = 0;
  let s3 = 0;
  let s4 = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - m;
    v += d * d;
    s3 += d ** 3;
    s4 += d ** 4;
  }
  v /= a.length;
  return { mean: m, variance: v, skew: s3 / a.length / v ** 1.5, kurtosis: s4 / a.length / v ** 2 };
}

function pearson(a: number[], b: number[]): number {
  const ma = a.reduce((x, y) => x + y) / a.length;
  const mb = b.reduce((x, y) => x + y) / b.length;
  let num = 0;
  let da = 0;
  let db = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - ma) * (b[i] - mb);
    da += (a[i] - ma) ** 2;
    db += (b[i] - mb) ** 2;
  }
  return num / Math.sqrt(da * db);
}

describe('createRng', () => {
  it('is xoshiro128** (reference outputs from the C algorithm, test/golden/rng-xoshiro128.json)', () => {
    const r = rngFromState({ algorithm: 'xoshiro128**', s: [1, 2, 3, 4] });
    const got = [r.uniform(), r.uniform(), r.uniform(), r.uniform()];
    expect(got).toEqual(golden.uniform);
    expect(r.getState().s).toEqual(golden.state_after_8);
  });

  it('is deterministic per seed (numbers and strings), and seeds differ', () => {
    expect(createRng(42).uniformArray(5)).toEqual(createRng(42).uniformArray(5));
    expect(createRng('run-a').normalArray(5)).toEqual(createRng('run-a').normalArray(5));
    expect(createRng(42).uniformArray(5)).not.toEqual(createRng(43).uniformArray(5));
    expect(createRng(2 ** 40).uniformArray(3)).not.toEqual(createRng(0).uniformArray(3));
  });

  it('round-trips its state through JSON: a resumed stream continues identically', () => {
    const r = createRng(7);
    r.normalArray(11);
    r.int(0, 10);
    const saved = JSON.parse(JSON.stringify(r.getState())) as RngState;
    const expected = [r.uniform(), r.normal(), r.int(0, 1000), ...r.normalArray(3)];
    const resumed = rngFromState(saved);
    expect([resumed.uniform(), resumed.normal(), resumed.int(0, 1000), ...resumed.normalArray(3)]).toEqual(expected);
    const r2 = createRng(0);
    r2.setState(saved);
    expect(r2.uniform()).toBe(expected[0]);
  });

  it('splits repeatably into independent streams without advancing the parent', () => {
    const p = createRng(5);
    const before = p.getState();
    const a1 = p.split('noise').uniformArray(4);
    const a2 = p.split('noise').uniformArray(4);
    expect(p.getState()).toEqual(before);
    expect(a1).toEqual(a2);
    expect(p.split('timesteps').uniformArray(4)).not.toEqual(a1);
    expect(p.split(1).uniformArray(4)).not.toEqual(p.split(2).uniformArray(4));
    const n = 20000;
    const parent = Array.from(p.uniformArray(n));
    const child = Array.from(p.split('x').uniformArray(n));
    const sib = Array.from(p.split('y').uniformArray(n));
    // |r| for independent streams ~ N(0, 1/n): 4.5 sigma = 0.032
    expect(Math.abs(pearson(parent, child))).toBeLessThan(0.032);
    expect(Math.abs(pearson(child, sib))).toBeLessThan(0.032);
  });

  it('draws normals with mean 0, variance 1, skew 0, kurtosis 3 (both normal() and normalArray())', () => {
    const r = createRng(123);
    const n = 100000;
    for (const a of [r.normalArray(n), Float64Array.from({ length: n }, () => r.normal())]) {
      const m = moments(a);
      // standard errors at n = 1e5: mean 0.0032, var 0.0045, skew 0.0077, kurt 0.015
      expect(Math.abs(m.mean)).toBeLessThan(0.016);
      expect(Math.abs(m.variance - 1)).toBeLessThan(0.023);
      expect(Math.abs(m.skew)).toBeLessThan(0.04);
      expect(Math.abs(m.kurtosis - 3)).toBeLessThan(0.08);
    }
  });

  it('draws uniforms in [lo, hi) and integers in [lo, hi) evenly', () => {
    const r = createRng(9);
    const u = r.uniformArray(50000, -2, 3);
    expect(Math.min(...u)).toBeGreaterThanOrEqual(-2);
    expect(Math.max(...u)).toBeLessThan(3);
    expect(Math.abs(moments(u).mean - 0.5)).toBeLessThan(0.04);
    const counts = new Array(10).fill(0);
    for (let i = 0; i < 50000; i++) counts[r.int(-3, 7) + 3]++;
    // chi-square, 9 dof: p = 0.001 at 27.9
    const chi = counts.reduce((acc, c) => acc + (c - 5000) ** 2 / 5000, 0);
    expect(chi).toBeLessThan(27.9);
    expect(() => r.int(3, 3)).toThrow(ConfigError);
  });

  it('shuffles into a permutation, deterministically', () => {
    const items = Array.from({ length: 20 }, (_, i) => i);
    const a = createRng(1).shuffle(items);
    expect(a).toEqual(createRng(1).shuffle(items));
    expect([...a].sort((x, y) => x - y)).toEqual(items);
    expect(a).not.toEqual(items);
    expect(items[0]).toBe(0);
  });

  it('rejects bad seeds and states with ConfigError', () => {
    expect(() => createRng(NaN)).toThrow(ConfigError);
    expect(() => rngFromState({ algorithm: 'mt19937', s: [1, 2, 3, 4] } as unknown as RngState)).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Invalid RNG state: expected { algorithm: 'xoshiro128**', s: [4 uint32] }.]`,
    );
  });
});

describe('randomNormal / randomUniform', () => {
  it('make float32 tensors of the given shape from the stream, without leaks', async () => {
    await tf.setBackend('cpu');
    const t = randomNormal(createRng(3), [2, 3, 4]);
    expect(t.shape).toEqual([2, 3, 4]);
    expect(t.dtype).toBe('float32');
    expect(Array.from(t.dataSync())).toEqual(Array.from(createRng(3).normalArray(24)));
    t.dispose();
    const u = randomUniform(createRng(3), [5], 2, 4);
    expect(Math.min(...u.dataSync())).toBeGreaterThanOrEqual(2);
    u.dispose();
    const out = expectNoLeakedTensors(() => randomUniform(createRng(1), [3]), 1);
    out.dispose();
  });
});
