/**
 * Temporal segments for dense (per-segment) preference labels.
 * @module
 */
import { ConfigError } from '../errors.js';

/** A half-open frame range `[start, end)`. */
export interface SegmentRange {
  /** First frame (inclusive). */
  start: number;
  /** One past the last frame (exclusive). */
  end: number;
}

/** How to cut a clip into segments: a frame count, or seconds at a frame rate. */
export type SegmentSpec = { segmentFrames: number } | { segmentSeconds: number; fps: number };

/**
 * Split `T` frames into consecutive segments `[0, S), [S, 2S), …`; the last one may be shorter.
 * This is the segmentation `denseDpoLoss` uses (research/losses.md §9 (d)), so labels made on these
 * ranges line up with the loss.
 * @param T - number of frames (a positive integer).
 * @param spec - `{ segmentFrames: S }`, or `{ segmentSeconds, fps }` giving `S = max(1, round(segmentSeconds * fps))`.
 * @returns `ceil(T / S)` ranges covering `[0, T)` exactly once.
 * @throws {ConfigError} for a non-positive or non-integer T or S.
 * @see DenseDPO, Wu et al. 2025, arXiv 2506.03517 (segment-level labels).
 * @example
 * segmentRanges(10, { segmentFrames: 4 }); // [{start:0,end:4},{start:4,end:8},{start:8,end:10}]
 */
export function segmentRanges(T: number, spec: SegmentSpec): SegmentRange[] {
  if (!Number.isInteger(T) || T <= 0) throw new ConfigError(`segmentRanges: T must be a positive integer number of frames, got ${T}.`);
  let S: number;
  if ('segmentFrames' in spec) {
    S = spec.segmentFrames;
    if (!Number.isInteger(S) || S <= 0) throw new ConfigError(`segmentRanges: segmentFrames must be a positive integer, got ${S}.`);
  } else if ('segmentSeconds' in spec) {
    const { segmentSeconds, fps } = spec;
    if (!(Number.isFinite(segmentSeconds) && segmentSeconds > 0)) throw new ConfigError(`segmentRanges: segmentSeconds must be a positive number, got ${segmentSeconds}.`);
    if (!(Number.isFinite(fps) && fps > 0)) throw new ConfigError(`segmentRanges: fps must be a positive number, got ${fps}.`);
    S = Math.max(1, Math.round(segmentSeconds * fps));
  } else {
    throw new ConfigError(`segmentRanges: expected { segmentFrames } or { segmentSeconds, fps }, got ${JSON.stringify(spec)}.`);
  }
  const out: SegmentRange[] = [];
  for (let s = 0; s < T; s += S) out.push({ start: s, end: Math.min(T, s + S) });
  return out;
}
