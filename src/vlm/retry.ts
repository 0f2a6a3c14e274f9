/**
 * Retry policy, back-off with jitter, Retry-After parsing, abortable sleep and a bounded
 * concurrency limiter for VLM requests.
 * @module
 */
import { ConfigError, PrefkitError } from '../errors.js';
import type { Rng } from '../core/random.js';

/** How failed requests are retried. */
export interface RetryPolicy {
  /** Retries after the first try (so at most `maxRetries + 1` requests). */
  maxRetries: number;
  /** First back-off, in ms; doubles each retry. */
  baseDelayMs: number;
  /** Cap on one back-off, in ms. */
  maxDelayMs: number;
  /** Cap on a server's Retry-After, in ms (a larger value is clamped to this). */
  maxRetryAfterMs: number;
}

/**
 * Exponential back-off with "equal jitter": a delay drawn uniformly from
 * `[d/2, d)` where `d = min(maxDelayMs, baseDelayMs * 2^attempt)`.
 * @param attempt - 0 for the first retry.
 * @param policy - the retry policy.
 * @param rng - source of the jitter.
 * @returns the delay in ms.
 */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, rng: Rng): number {
  const d = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return d / 2 + rng.uniform() * (d / 2);
}

/**
 * Read a server's requested wait from `retry-after-ms` (ms) or `retry-after`
 * (seconds, possibly fractional, or an HTTP date).
 * @param headers - response headers (anything with `get`).
 * @param now - current time in ms since the epoch.
 * @returns the wait in ms (>= 0), or undefined when the server gave none.
 */
export function parseRetryAfter(headers: { get(name: string): string | null } | undefined | null, now = Date.now()): number | undefined {
  if (!headers || typeof headers.get !== 'function') return undefined;
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = headers.get('retry-after');
  if (ra === null || ra.trim() === '') return undefined;
  if (Number.isFinite(Number(ra))) return Math.max(0, Number(ra) * 1000);
  const t = Date.parse(ra);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/**
 * Sleep `ms`, or reject with an `ABORTED` {@link PrefkitError} as soon as `signal` aborts.
 * @param ms - delay in ms.
 * @param signal - optional abort signal.
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortError());
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error thrown when a caller's AbortSignal fires. */
export function abortError(): PrefkitError {
  return new PrefkitError('ABORTED', 'VLM labelling was aborted by the caller (AbortSignal); answers received so far are in the cache.');
}

/** A counting semaphore: at most `limit` holders at once, first come first served. */
export class Limiter {
  private active = 0;
  private readonly queue: Array<() => void> = [];
  /**
   * @param limit - maximum concurrent holders (a whole number >= 1).
   * @throws {ConfigError} for any other limit.
   */
  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`Limiter limit must be a whole number >= 1; got ${limit}.`);
  }
  /** Run `fn` once a slot is free; the slot is released when it settles. */
  async run<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(signal);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
  /** Number of holders now. */
  get inFlight(): number {
    return this.active;
  }
  private acquire(signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(abortError());
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve();
      };
      const onAbort = () => {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        reject(abortError());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queue.push(grant);
    });
  }
  private release(): void {
    this.active--;
    const next = this.queue.shift();
    if (next) next();
  }
}

/**
 * Run `fn` over `items` with at most `concurrency` in flight, stopping new work once
 * `signal` aborts. Results keep input order.
 * @param items - inputs.
 * @param concurrency - maximum in flight (>= 1).
 * @param fn - async worker.
 * @param signal - stops scheduling when aborted.
 */
export async function mapConcurrent<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
  signal?: AbortSignal,
): Promise<R[]> {
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConfigError(`concurrency must be a whole number >= 1; got ${concurrency}.`, { source: 'labelling options' });
  }
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      if (signal?.aborted) return;
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, items.length)) }, worker));
  if (signal?.aborted) throw abortError();
  return out;
}
