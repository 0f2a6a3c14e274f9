/**
 * Labelling: pairs of images ({@link labelPairs}), aligned video segments in the DenseDPO
 * style ({@link labelSegments}) and captions for DCPO ({@link captionImage}). Every item ends
 * labelled or in the failure list; nothing but an abort stops a run.
 * @module
 */
import { resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, ShapeError, isPrefkitError } from '../errors.js';
import { agreement, type AgreementResult, type LabelValue } from './agreement.js';
import { aggregateJudgements, preferenceProbability } from './judges.js';
import { DENSE_DPO_CRITERIA } from './prompts.js';
import { abortError, mapConcurrent } from './retry.js';
import type { Judge, JudgeMedia, Judgement, Preference } from './types.js';

/** Media as given in a record: a file path, encoded bytes, a tensor (`[H, W, 3]` image or `[T, H, W, 3]` frames, in [-1, 1]), frame file paths, or a {@link JudgeMedia}. */
export type MediaInput = string | Uint8Array | tf.Tensor | readonly string[] | JudgeMedia;

/** One pair to label. `chosen` is shown first and `rejected` second; the judge decides which is better. */
export interface LabelPairRecord {
  prompt: string;
  chosen: MediaInput;
  rejected: MediaInput;
  /** Human label in [0, 1] (1 = chosen preferred, 0.5 = tie), for agreement. */
  label?: number | null;
}

/** The outcome for one pair. */
export interface PairLabel {
  index: number;
  prompt: string;
  status: 'labelled' | 'failed';
  preference?: Preference;
  /** Hard label: 1 chosen preferred, 0 rejected preferred, 0.5 tie. */
  label?: 1 | 0 | 0.5;
  /** Soft label for SmPO: probability that `chosen` is preferred. */
  p?: number;
  confidence?: number;
  rationale?: string;
  cached?: boolean;
  positionConsistent?: boolean;
  agreement?: number;
  /** Why it failed (credentials scrubbed). */
  error?: string;
}

/** A failed item. */
export interface LabelFailure {
  index: number;
  /** Error code (`VLM_REQUEST_FAILED`, `VLM_REPLY_INVALID`, `MEDIA_INVALID`, ...). */
  code: string;
  message: string;
}

/** Totals of a labelling run. */
export interface LabelSummary {
  total: number;
  labelled: number;
  failed: number;
  /** Labelled items answered from the cache. */
  cached: number;
  elapsedMs: number;
}

/** Progress events of {@link labelPairs} and {@link labelSegments}. */
export type LabelEvent =
  | { type: 'start'; total: number }
  | { type: 'item'; index: number; status: 'labelled' | 'failed'; cached: boolean; done: number; total: number; failed: number; error?: string }
  | { type: 'done'; summary: LabelSummary; failures: LabelFailure[] };

/** Options of {@link labelPairs}. */
export interface LabelPairsOptions {
  /** What to judge on. Default `'overall'`. */
  criteria?: string;
  /** Pairs in flight at once. Default 4. */
  concurrency?: number;
  /** Stops the run: no new pairs start; it rejects with code `ABORTED`. */
  signal?: AbortSignal;
  /** Progress events. */
  onProgress?: (event: LabelEvent) => void;
  /** Directory that relative paths are resolved against. Default the working directory. */
  baseDir?: string;
}

/** Result of {@link labelPairs}. */
export interface LabelPairsResult {
  labels: PairLabel[];
  failures: LabelFailure[];
  summary: LabelSummary;
  /** Against the records' `label`, when any record has one. */
  agreement?: AgreementResult;
}

function isTensor(x: unknown): x is tf.Tensor {
  return x instanceof tf.Tensor || (typeof x === 'object' && x !== null && 'shape' in x && 'dtype' in x && 'dataId' in x);
}

/**
 * Turn a {@link MediaInput} into {@link JudgeMedia}.
 * @param input - the media.
 * @param baseDir - where relative paths are resolved.
 * @throws {ShapeError} for tensors that are neither rank 3 nor rank 4.
 * @throws {ConfigError} for anything else that is not media.
 */
export function toJudgeMedia(input: MediaInput, baseDir = '.'): JudgeMedia {
  if (typeof input === 'string') return { kind: 'image', path: resolve(baseDir, input) };
  if (input instanceof Uint8Array) return { kind: 'image', bytes: input };
  if (Array.isArray(input)) return { kind: 'frames', paths: input.map((p) => resolve(baseDir, String(p))) };
  if (isTensor(input)) {
    if (input.rank === 3) return { kind: 'image', tensor: input };
    if (input.rank === 4) return { kind: 'frames', tensor: input };
    throw new ShapeError(`Media tensor has shape [${input.shape.join(', ')}], expected [H, W, 3] (image) or [T, H, W, 3] (frames).`, {
      argument: 'media',
      actual: [...input.shape],
    });
  }
  if (typeof input === 'object' && input !== null && 'kind' in input) {
    const m = input as JudgeMedia;
    if (m.kind === 'image' && m.path) return { ...m, path: resolve(baseDir, m.path) };
    if (m.kind === 'frames' && m.paths) return { ...m, paths: m.paths.map((p) => resolve(baseDir, p)) };
    return m;
  }
  throw new ConfigError(`Unsupported media ${JSON.stringify(input)}; expected a path, bytes, a tensor, frame paths or { kind: 'image' | 'frames', ... }.`);
}

function hardLabel(p: Preference): 1 | 0 | 0.5 {
  return p === 'first' ? 1 : p === 'second' ? 0 : 0.5;
}

function failureOf(index: number, e: unknown): LabelFailure {
  return { index, code: isPrefkitError(e) ? e.code : 'INTERNAL', message: (e as Error)?.message ?? String(e) };
}

function isAbort(e: unknown): boolean {
  return isPrefkitError(e) && e.code === 'ABORTED';
}

function emitSafe(fn: ((e: LabelEvent) => void) | undefined, e: LabelEvent): void {
  try {
    fn?.(e);
  } catch {
    /* a listener's error must not break labelling */
  }
}

/**
 * Label preference pairs with a judge: for each record, which of `chosen` (shown first) and
 * `rejected` (shown second) is better, with a hard label, a soft label p (SmPO), confidence and
 * rationale. Items that fail are reported, never thrown; with a caching judge a rerun asks only
 * what is missing.
 * @param records - the pairs (manifest records with paths, bytes or tensors).
 * @param judge - any {@link Judge}.
 * @param options - see {@link LabelPairsOptions}.
 * @returns per-item labels in input order, failures, a summary and agreement with human labels.
 * @throws {PrefkitError} code `ABORTED` when `options.signal` aborts.
 * @example
 * const { labels, summary } = await labelPairs(records, openAIJudge({ baseURL, model, cacheFile }), { concurrency: 8 });
 */
export async function labelPairs(records: readonly LabelPairRecord[], judge: Judge, options: LabelPairsOptions = {}): Promise<LabelPairsResult> {
  const started = Date.now();
  const total = records.length;
  const failures: LabelFailure[] = [];
  let done = 0;
  let cachedCount = 0;
  emitSafe(options.onProgress, { type: 'start', total });
  const labels = await mapConcurrent(
    records,
    options.concurrency ?? 4,
    async (r, index): Promise<PairLabel> => {
      let out: PairLabel;
      try {
        const j = await judge.compare(
          { first: toJudgeMedia(r.chosen, options.baseDir), second: toJudgeMedia(r.rejected, options.baseDir), prompt: r.prompt, criteria: options.criteria },
          { signal: options.signal },
        );
        out = fromJudgement(index, r.prompt, j);
        if (j.cached) cachedCount++;
      } catch (e) {
        if (isAbort(e) || options.signal?.aborted) throw abortError();
        const f = failureOf(index, e);
        failures.push(f);
        out = { index, prompt: r.prompt, status: 'failed', error: f.message };
      }
      done++;
      emitSafe(options.onProgress, {
        type: 'item',
        index,
        status: out.status,
        cached: Boolean(out.cached),
        done,
        total,
        failed: failures.length,
        ...(out.error ? { error: out.error } : {}),
      });
      return out;
    },
    options.signal,
  );
  failures.sort((a, b) => a.index - b.index);
  const summary: LabelSummary = { total, labelled: total - failures.length, failed: failures.length, cached: cachedCount, elapsedMs: Date.now() - started };
  emitSafe(options.onProgress, { type: 'done', summary, failures });
  const result: LabelPairsResult = { labels, failures, summary };
  if (records.some((r) => typeof r.label === 'number')) {
    result.agreement = agreement(
      labels.map((l) => (l.status === 'labelled' ? (l.preference as LabelValue) : undefined)),
      records.map((r) => (typeof r.label === 'number' ? r.label : undefined)),
    );
  }
  return result;
}

function fromJudgement(index: number, prompt: string, j: Judgement): PairLabel {
  return {
    index,
    prompt,
    status: 'labelled',
    preference: j.preference,
    label: hardLabel(j.preference),
    p: preferenceProbability(j),
    confidence: j.confidence,
    rationale: j.rationale,
    cached: Boolean(j.cached),
    ...(j.positionConsistent !== undefined ? { positionConsistent: j.positionConsistent } : {}),
    ...(j.agreement !== undefined ? { agreement: j.agreement } : {}),
  };
}

/** A video: frames `[T, H, W, 3]` in [-1, 1], or frame image paths in time order. */
export type SegmentVideoInput = tf.Tensor | readonly string[];

/** Options of {@link labelSegments}. Give exactly one of `segmentFrames` and `segmentSeconds`. */
export interface LabelSegmentsOptions {
  /** Frames per segment (the last segment may be shorter). */
  segmentFrames?: number;
  /** Seconds per segment; needs `fps`. */
  segmentSeconds?: number;
  /** Frames per second, for `segmentSeconds` and for times in prompts and results. */
  fps?: number;
  /** Criteria asked per segment. Default DenseDPO's three: visual quality, motion, prompt alignment. */
  criteria?: readonly string[];
  /** How criteria combine into a segment label. Default `majority`. */
  votes?: 'majority' | 'mean';
  /** The generation prompt. */
  prompt?: string;
  /** Segments in flight at once (criteria of a segment are asked together). Default 2. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: LabelEvent) => void;
}

/** The outcome for one segment. */
export interface SegmentLabel {
  index: number;
  /** First frame (inclusive). */
  startFrame: number;
  /** End frame (exclusive). */
  endFrame: number;
  startSeconds?: number;
  endSeconds?: number;
  status: 'labelled' | 'failed';
  preference?: Preference;
  /** DenseDPO label: +1 first video better, −1 second better, 0 tie. */
  label?: 1 | -1 | 0;
  /** Soft label: probability that the first video's segment is better (mean over criteria). */
  p?: number;
  confidence?: number;
  rationale?: string;
  /** Each criterion's judgement, or its error. */
  criteria: Record<string, Judgement | { error: string }>;
  error?: string;
}

/** Result of {@link labelSegments}. */
export interface LabelSegmentsResult {
  segments: SegmentLabel[];
  /** Per segment +1/−1/0, or null where it failed: `denseDpoLoss`'s labels. */
  labels: (1 | -1 | 0 | null)[];
  /** Per segment p, or null where it failed. */
  softLabels: (number | null)[];
  failures: LabelFailure[];
  summary: LabelSummary;
}

/**
 * Split `[0, total)` into consecutive segments of `size` frames (the last may be shorter).
 * @returns `[start, end)` pairs.
 */
export function segmentBounds(total: number, size: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let s = 0; s < total; s += size) out.push([s, Math.min(total, s + size)]);
  return out;
}

function videoLength(v: SegmentVideoInput, name: string): number {
  if (isTensor(v)) {
    if (v.rank !== 4 || v.shape[3] !== 3) {
      throw new ShapeError(`Argument '${name}' to labelSegments has shape [${v.shape.join(', ')}], expected [T, H, W, 3].`, {
        argument: name,
        actual: [...v.shape],
        expected: [null, null, null, 3],
      });
    }
    return v.shape[0]!;
  }
  if (Array.isArray(v)) return v.length;
  throw new ConfigError(`Argument '${name}' to labelSegments must be a [T, H, W, 3] tensor or an array of frame paths.`);
}

/**
 * Label aligned segments of two videos, DenseDPO-style: each segment is judged on each
 * criterion (visual quality, motion, prompt alignment by default) from evenly sampled frames,
 * and the criteria are combined into a per-segment label +1/−1/0 and a soft label p.
 * @param videoA - first video `[T, H, W, 3]` in [-1, 1], or T frame paths.
 * @param videoB - second video, same length (and shape, for tensors).
 * @param judge - any {@link Judge}.
 * @param options - see {@link LabelSegmentsOptions}.
 * @returns per-segment labels, failures and a summary.
 * @throws {ConfigError} when neither or both of segmentFrames/segmentSeconds are given, or fps is missing.
 * @throws {ShapeError} when the videos differ in length or shape.
 * @throws {PrefkitError} code `ABORTED` when `options.signal` aborts.
 * @see Wu et al., "DenseDPO: Fine-Grained Temporal Preference Optimization for Video Diffusion Models", arXiv 2506.03517.
 */
export async function labelSegments(videoA: SegmentVideoInput, videoB: SegmentVideoInput, judge: Judge, options: LabelSegmentsOptions): Promise<LabelSegmentsResult> {
  const started = Date.now();
  const tA = videoLength(videoA, 'videoA');
  const tB = videoLength(videoB, 'videoB');
  if (tA !== tB || (isTensor(videoA) && isTensor(videoB) && videoA.shape.join() !== videoB.shape.join())) {
    const sa = isTensor(videoA) ? videoA.shape : [tA];
    const sb = isTensor(videoB) ? videoB.shape : [tB];
    throw new ShapeError(`labelSegments needs aligned videos of the same shape; got videoA [${sa.join(', ')}] and videoB [${sb.join(', ')}].`, {
      argument: 'videoB',
      actual: [...sb],
      expected: [...sa],
    });
  }
  if ((options.segmentFrames === undefined) === (options.segmentSeconds === undefined)) {
    throw new ConfigError('labelSegments needs exactly one of segmentFrames and segmentSeconds.', { source: 'labelSegments options' });
  }
  if (options.fps !== undefined && !(options.fps > 0)) throw new ConfigError(`labelSegments fps must be > 0; got ${options.fps}.`, { source: 'labelSegments options' });
  let size: number;
  if (options.segmentFrames !== undefined) size = options.segmentFrames;
  else {
    if (options.fps === undefined) throw new ConfigError('labelSegments segmentSeconds needs fps.', { source: 'labelSegments options' });
    size = Math.max(1, Math.round(options.segmentSeconds! * options.fps));
  }
  if (!Number.isInteger(size) || size < 1) throw new ConfigError(`labelSegments segment size must be a whole number of frames >= 1; got ${size}.`, { source: 'labelSegments options' });
  const criteria = options.criteria && options.criteria.length > 0 ? [...options.criteria] : [...DENSE_DPO_CRITERIA];
  const bounds = segmentBounds(tA, size);
  const total = bounds.length;
  const failures: LabelFailure[] = [];
  let done = 0;
  let cachedCount = 0;
  emitSafe(options.onProgress, { type: 'start', total });

  const slice = (v: SegmentVideoInput, s: number, e: number): { media: JudgeMedia; dispose: () => void } => {
    if (isTensor(v)) {
      const t = tf.slice(v, [s, 0, 0, 0], [e - s, -1, -1, -1]); // [S, H, W, 3]
      return { media: { kind: 'frames', tensor: t, fps: options.fps }, dispose: () => t.dispose() };
    }
    return { media: { kind: 'frames', paths: (v as readonly string[]).slice(s, e), fps: options.fps }, dispose: () => undefined };
  };

  const segments = await mapConcurrent(
    bounds,
    options.concurrency ?? 2,
    async ([s, e], index): Promise<SegmentLabel> => {
      const fps = options.fps;
      const times = fps ? { startSeconds: s / fps, endSeconds: e / fps } : {};
      const context =
        `This is segment ${index + 1} of ${total}: frames ${s}–${e - 1}` +
        (fps ? ` (${(s / fps).toFixed(2)} s to ${(e / fps).toFixed(2)} s)` : '') +
        ' of both videos, which are aligned in time.';
      const a = slice(videoA, s, e);
      const b = slice(videoB, s, e);
      let settled: PromiseSettledResult<Judgement>[];
      try {
        settled = await Promise.allSettled(
          criteria.map((c) => judge.compare({ first: a.media, second: b.media, prompt: options.prompt, criteria: c, context }, { signal: options.signal })),
        );
      } finally {
        a.dispose();
        b.dispose();
      }
      if (options.signal?.aborted || settled.some((r) => r.status === 'rejected' && isAbort(r.reason))) throw abortError();
      const per: Record<string, Judgement | { error: string }> = {};
      const ok: Judgement[] = [];
      const okNames: string[] = [];
      const errs: string[] = [];
      settled.forEach((r, k) => {
        if (r.status === 'fulfilled') {
          per[criteria[k]!] = r.value;
          ok.push(r.value);
          okNames.push(criteria[k]!);
        } else {
          const msg = (r.reason as Error)?.message ?? String(r.reason);
          per[criteria[k]!] = { error: msg };
          errs.push(`${criteria[k]}: ${msg}`);
        }
      });
      let out: SegmentLabel;
      if (ok.length === 0) {
        const f = failureOf(index, (settled[0] as PromiseRejectedResult).reason);
        f.message = errs.join(' | ');
        failures.push(f);
        out = { index, startFrame: s, endFrame: e, ...times, status: 'failed', criteria: per, error: f.message };
      } else {
        const agg = aggregateJudgements(ok, options.votes ?? 'majority', 0, okNames);
        if (ok.every((j) => j.cached)) cachedCount++;
        out = {
          index,
          startFrame: s,
          endFrame: e,
          ...times,
          status: 'labelled',
          preference: agg.preference,
          label: agg.preference === 'first' ? 1 : agg.preference === 'second' ? -1 : 0,
          p: agg.p,
          confidence: agg.confidence,
          rationale: agg.rationale,
          criteria: per,
          ...(errs.length ? { error: errs.join(' | ') } : {}),
        };
      }
      done++;
      emitSafe(options.onProgress, {
        type: 'item',
        index,
        status: out.status,
        cached: out.status === 'labelled' && ok.every((j) => j.cached),
        done,
        total,
        failed: failures.length,
        ...(out.status === 'failed' ? { error: out.error } : {}),
      });
      return out;
    },
    options.signal,
  );
  failures.sort((x, y) => x.index - y.index);
  const summary: LabelSummary = { total, labelled: total - failures.length, failed: failures.length, cached: cachedCount, elapsedMs: Date.now() - started };
  emitSafe(options.onProgress, { type: 'done', summary, failures });
  return {
    segments,
    labels: segments.map((x) => (x.status === 'labelled' ? x.label! : null)),
    softLabels: segments.map((x) => (x.status === 'labelled' ? x.p! : null)),
    failures,
    summary,
  };
}

/** Anything that captions an image, such as an {@link OpenAIJudge}. */
export interface Captioner {
  caption(image: JudgeMedia, options?: { instruction?: string; prompt?: string; signal?: AbortSignal }): Promise<string>;
}

/**
 * Caption an image with a VLM, for DCPO's captioning strategy (re-captioning the rejected
 * image so its caption matches what it shows).
 * @param captioner - an {@link OpenAIJudge} or anything with `caption`.
 * @param image - a path, bytes, an `[H, W, 3]` tensor in [-1, 1], or image {@link JudgeMedia}.
 * @param options - `instruction` replaces the default instruction; `baseDir` resolves relative paths.
 * @returns the caption.
 * @throws {VlmError} when the request fails or the reply stays invalid.
 * @see Saeidi et al., "Dual Caption Preference Optimization for Diffusion Models" (DCPO, arXiv 2502.06023), DCPO-c.
 */
export async function captionImage(
  captioner: Captioner,
  image: MediaInput,
  options: { instruction?: string; prompt?: string; signal?: AbortSignal; baseDir?: string } = {},
): Promise<string> {
  const media = toJudgeMedia(image, options.baseDir);
  if (media.kind !== 'image') throw new ConfigError('captionImage takes one image, not frames.');
  return captioner.caption(media, { instruction: options.instruction, prompt: options.prompt, signal: options.signal });
}

/** Options of {@link captionPairs}. */
export interface CaptionPairsOptions {
  /** Which images to caption. Default `both` (DCPO-c); `rejected` keeps the prompt as the chosen caption. */
  which?: 'both' | 'rejected';
  /** Replacement instruction. */
  instruction?: string;
  /** Pairs in flight at once. Default 4. */
  concurrency?: number;
  signal?: AbortSignal;
  onProgress?: (event: LabelEvent) => void;
  baseDir?: string;
}

/** A pair with DCPO captions, or the reason it has none. */
export interface CaptionedPair {
  index: number;
  status: 'labelled' | 'failed';
  captionChosen?: string;
  captionRejected?: string;
  error?: string;
}

/**
 * Caption both images of each pair (or only the rejected one) given the original prompt, for
 * DCPO's dual-caption training (`captionChosen`, `captionRejected` in the manifest).
 * Failures are reported per pair, never thrown.
 * @param records - the pairs.
 * @param captioner - an {@link OpenAIJudge} or anything with `caption`.
 * @param options - see {@link CaptionPairsOptions}.
 * @returns one entry per record, failures and a summary.
 * @throws {PrefkitError} code `ABORTED` when `options.signal` aborts.
 * @see Saeidi et al., DCPO (arXiv 2502.06023), DCPO-c and DCPO-h.
 */
export async function captionPairs(
  records: readonly LabelPairRecord[],
  captioner: Captioner,
  options: CaptionPairsOptions = {},
): Promise<{ captions: CaptionedPair[]; failures: LabelFailure[]; summary: LabelSummary }> {
  const started = Date.now();
  const total = records.length;
  const failures: LabelFailure[] = [];
  let done = 0;
  emitSafe(options.onProgress, { type: 'start', total });
  const captions = await mapConcurrent(
    records,
    options.concurrency ?? 4,
    async (r, index): Promise<CaptionedPair> => {
      const ask = (m: MediaInput) => captionImage(captioner, m, { instruction: options.instruction, prompt: r.prompt, signal: options.signal, baseDir: options.baseDir });
      let out: CaptionedPair;
      try {
        const [captionChosen, captionRejected] = await Promise.all([options.which === 'rejected' ? Promise.resolve(r.prompt) : ask(r.chosen), ask(r.rejected)]);
        out = { index, status: 'labelled', captionChosen, captionRejected };
      } catch (e) {
        if (isAbort(e) || options.signal?.aborted) throw abortError();
        const f = failureOf(index, e);
        failures.push(f);
        out = { index, status: 'failed', error: f.message };
      }
      done++;
      emitSafe(options.onProgress, { type: 'item', index, status: out.status, cached: false, done, total, failed: failures.length, ...(out.error ? { error: out.error } : {}) });
      return out;
    },
    options.signal,
  );
  failures.sort((a, b) => a.index - b.index);
  const summary: LabelSummary = { total, labelled: total - failures.length, failed: failures.length, cached: 0, elapsedMs: Date.now() - started };
  emitSafe(options.onProgress, { type: 'done', summary, failures });
  return { captions, failures, summary };
}
