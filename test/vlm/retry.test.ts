import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { isPrefkitError } from '../../src/errors.js';
import { Limiter, backoffDelay, mapConcurrent, parseRetryAfter, sleep } from '../../src/vlm/retry.js';

const headers = (h: Record<string, string>) => new Headers(h);

describe('backoffDelay', () => {
  it('doubles per attempt within [d/2, d), capped at maxDelayMs, and is seeded', () => {
    const policy = { baseDelayMs: 100, maxDelayMs: 1000 };
    const rng = createRng(1);
    for (let a = 0; a < 8; a++) {
      const d = Math.min(1000, 100 * 2 ** a);
      const x = backoffDelay(a, policy, rng);
      expect(x).toBeGreaterThanOrEqual(d / 2);
      expect(x).toBeLessThan(d);
    }
    const r1 = createRng(7);
    const r2 = createRng(7);
    expect([0, 1, 2].map((a) => backoffDelay(a, policy, r1))).toEqual([0, 1, 2].map((a) => backoffDelay(a, policy, r2)));
  });
});

describe('parseRetryAfter', () => {
  it('reads retry-after-ms, seconds, fractional seconds and HTTP dates', () => {
    expect(parseRetryAfter(headers({ 'retry-after-ms': '250' }))).toBe(250);
    expect(parseRetryAfter(headers({ 'retry-after': '2' }))).toBe(2000);
    expect(parseRetryAfter(headers({ 'retry-after': '0.5' }))).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter(headers({ 'retry-after': 'Thu, 01 Jan 2026 00:00:03 GMT' }), now)).toBe(3000);
    expect(parseRetryAfter(headers({ 'retry-after': 'Wed, 31 Dec 2025 00:00:00 GMT' }), now)).toBe(0);
    expect(parseRetryAfter(headers({}))).toBeUndefined();
    expect(parseRetryAfter(headers({ 'retry-after': 'soon' }))).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});

describe('Limiter and mapConcurrent', () => {
  it('never runs more than the limit at once and keeps input order', async () => {
    const lim = new Limiter(3);
    let active = 0;
    let peak = 0;
    const out = await mapConcurrent(
      Array.from({ length: 20 }, (_, i) => i),
      10,
      (i) =>
        lim.run(async () => {
          active++;
          peak = Math.max(peak, active);
          await sleep(2 + (i % 3));
          active--;
          return i * i;
        }),
    );
    expect(peak).toBe(3);
    expect(out).toEqual(Array.from({ length: 20 }, (_, i) => i * i));
  });
  it('stops scheduling and rejects with ABORTED when the signal aborts', async () => {
    const ac = new AbortController();
    const started: number[] = [];
    const p = mapConcurrent(
      Array.from({ length: 10 }, (_, i) => i),
      2,
      async (i) => {
        started.push(i);
        if (i === 3) ac.abort();
        await sleep(1);
      },
      ac.signal,
    );
    await expect(p).rejects.toSatisfy((e) => isPrefkitError(e) && e.code === 'ABORTED');
    expect(started.length).toBeLessThan(10);
  });
  it('rejects a concurrency that is not a whole number >= 1', async () => {
    await expect(mapConcurrent([1], 0, async (x) => x)).rejects.toThrow(/concurrency must be a whole number >= 1; got 0/);
    await expect(mapConcurrent([1], Number.NaN, async (x) => x)).rejects.toThrow(/got NaN/);
    expect(() => new Limiter(1.5)).toThrow(/whole number/);
  });
  it('sleep rejects at once on abort', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(5000, ac.signal);
    ac.abort();
    await expect(p).rejects.toSatisfy((e) => isPrefkitError(e) && e.code === 'ABORTED');
    expect(Date.now() - t0).toBeLessThan(1000);
  });
});
