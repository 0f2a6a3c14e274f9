/**
 * DenseDPO pair construction: two temporally aligned candidates from one real video, made by
 * denoising two differently-noised copies of it, and segment labels from any {@link Judge}.
 *
 * Only *types* come from `diffusion/` and `vlm/`; at run time this file depends on `core/` alone
 * (the scheduler and the model are passed in), keeping the video layer below diffusion.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, randomNormal, type Rng } from '../core/random.js';
import { ConfigError, ShapeError } from '../errors.js';
import type { Conditioning, Denoiser } from '../diffusion/denoiser.js';
import type { Scheduler } from '../diffusion/scheduler.js';
import type { Judge, Judgement } from '../vlm/types.js';
import type { SegmentRange } from './segments.js';

/** Options of {@link makeDensePairs}. */
export interface DensePairOptions {
  /**
   * Guidance level η ∈ (0, 1]: the fraction of the `steps`-step sampler that is re-run. η → 0 keeps
   * the input video; η = 1 is a fresh sample. The paper's "(1 − η)·x + η·ε, start at n = round(η·N)".
   */
  strength: number;
  /** Inference steps N of the full sampler (default 20); round(η·N) of them are run. */
  steps?: number;
  /** Seeds of the two corruption noises (must differ). Default `[0, 1]` unless `rng` is given. */
  seeds?: readonly [number | string, number | string];
  /** Random stream for the two noises (split into `'first'` and `'second'`); overrides `seeds`. */
  rng?: Rng;
  /** Conditioning for the batch, each field `[B, ...]` (used for both candidates). */
  cond?: Conditioning;
  /** Unconditional conditioning for classifier-free guidance (default: zeros like `cond`). */
  uncond?: Conditioning;
  /** Guidance scale w (default 1: no guidance). */
  guidanceScale?: number;
  /** DDIM η of the sampler steps (default 0: deterministic, so the two candidates differ only by their start noise). */
  eta?: number;
}

/** Two aligned candidates per input video, and how they were made. */
export type DensePairs = {
  /** Candidate from the first noise, `[B, T, H, W, C]` (the input's shape). */
  first: tf.Tensor;
  /** Candidate from the second noise, same shape. */
  second: tf.Tensor;
  /** The timestep the corruption lands on (the first of the steps run). */
  startTimestep: number;
  /** The timesteps run, descending. */
  timesteps: number[];
  /** x_t = signal·x0 + noise·ε at `startTimestep`: `{ signal, noise }`. */
  scales: { signal: number; noise: number };
};

function doubleCond(c: Conditioning | undefined): Conditioning | undefined {
  if (!c) return undefined;
  const d = (t: tf.Tensor | undefined) => (t ? tf.concat([t, t], 0) : undefined);
  return { tokens: d(c.tokens), tokenMask: d(c.tokenMask), pooled: d(c.pooled) };
}

function zerosLikeCond(c: Conditioning): Conditioning {
  const z = (t: tf.Tensor | undefined) => (t ? (t === c.tokenMask ? tf.onesLike(t) : tf.zerosLike(t)) : undefined);
  return { tokens: z(c.tokens), tokenMask: z(c.tokenMask), pooled: z(c.pooled) };
}

function concatCond(a: Conditioning, b: Conditioning): Conditioning {
  const cat = (x: tf.Tensor | undefined, y: tf.Tensor | undefined) => (x && y ? tf.concat([x, y], 0) : undefined);
  return { tokens: cat(a.tokens, b.tokens), tokenMask: cat(a.tokenMask, b.tokenMask), pooled: cat(a.pooled, b.pooled) };
}

/**
 * Make DenseDPO's paired candidates: corrupt each ground-truth video latent with two different
 * noises at guidance level η and denoise both with the model, so the two share the input's
 * motion and layout and differ in local detail (DenseDPO §3.1, "StructuralDPO" data).
 *
 * Symbols: x0 = `videoLatents`, ε₁, ε₂ = the two noises, N = `steps`, n = round(η·N).
 * 1. t_s = the (N − n)-th of the sampler's N descending timesteps (diffusers img2img `strength`).
 * 2. x_{t_s}^{(i)} = a_{t_s}·x0 + s_{t_s}·ε_i (the schedule's `addNoise`). On a `flow` schedule this
 *    is exactly the paper's (1 − σ)·x0 + σ·ε with σ = t_s / T ≈ η; on a VP (DDPM/DDIM) schedule it is
 *    the equivalent corruption √ᾱ·x0 + √(1 − ᾱ)·ε at the same point of the sampler. **We implement
 *    the timestep form** and report `{ signal, noise }` = (a_{t_s}, s_{t_s}).
 * 3. Run the last n sampler steps on both copies as one batch of 2B.
 *
 * @param denoiser - the model (its prediction type must match the scheduler's schedule).
 * @param scheduler - a sampler (`DDIMScheduler`, `FlowMatchEulerScheduler`, ...); its timesteps are reset.
 * @param videoLatents - ground-truth latents `[B, T, H, W, C]` (any `[B, ...]` the model takes).
 * @param options - strength η, steps, seeds or rng, cond, guidance, eta.
 * @returns `{ first, second, startTimestep, timesteps, scales }`; the caller owns `first` and `second`.
 * @throws {ConfigError} for η outside (0, 1], bad steps, or identical seeds.
 * @throws {ShapeError} when a conditioning batch does not match the latents.
 * @see Wu et al., "DenseDPO: Fine-Grained Temporal Preference Optimization for Video Diffusion Models", arXiv 2506.03517, §3.1.
 * @example
 * const { first, second } = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: 0.6, steps: 20, seeds: [1, 2] });
 */
export function makeDensePairs(denoiser: Denoiser, scheduler: Scheduler, videoLatents: tf.Tensor, options: DensePairOptions): DensePairs {
  const fn = 'makeDensePairs';
  const eta = options.strength;
  if (!(Number.isFinite(eta) && eta > 0 && eta <= 1)) throw new ConfigError(`${fn}: strength must be in (0, 1], got ${eta}.`);
  const N = options.steps ?? 20;
  if (!Number.isInteger(N) || N < 1) throw new ConfigError(`${fn}: steps must be a positive integer, got ${N}.`);
  if (videoLatents.rank < 2) throw new ShapeError(`Argument 'videoLatents' to ${fn} has shape [${videoLatents.shape.join(', ')}], expected [B, T, H, W, C].`, { argument: 'videoLatents', actual: videoLatents.shape });
  const B = videoLatents.shape[0];
  for (const [name, c] of [['cond', options.cond], ['uncond', options.uncond]] as const) {
    for (const [k, t] of Object.entries(c ?? {})) {
      if (t && (t as tf.Tensor).shape[0] !== B) {
        throw new ShapeError(`Argument '${name}.${k}' to ${fn} has batch ${(t as tf.Tensor).shape[0]}, expected ${B} (the latents' batch).`, { argument: `${name}.${k}`, actual: (t as tf.Tensor).shape });
      }
    }
  }
  let rngA: Rng;
  let rngB: Rng;
  if (options.rng) {
    rngA = options.rng.split('first');
    rngB = options.rng.split('second');
  } else {
    const [sa, sb] = options.seeds ?? [0, 1];
    if (sa === sb) throw new ConfigError(`${fn}: the two seeds must differ (got ${JSON.stringify(sa)} twice): identical noises give identical candidates.`);
    rngA = createRng(sa);
    rngB = createRng(sb);
  }
  const stepRng = options.rng ? options.rng.split('steps') : createRng(`${String(options.seeds?.[0] ?? 0)}:steps`);
  const w = options.guidanceScale ?? 1;
  const ddimEta = options.eta ?? 0;

  const all = scheduler.setTimesteps(N);
  const n = Math.min(N, Math.max(1, Math.round(eta * N)));
  const run = all.slice(N - n);
  const tStart = run[0];
  const sc = scheduler.schedule.scales([tStart]);

  // 2. corrupt: one batch of 2B = [first copies; second copies]
  let x = tf.tidy(() => {
    const e1 = randomNormal(rngA, videoLatents.shape);
    const e2 = randomNormal(rngB, videoLatents.shape);
    const x0 = tf.concat([videoLatents, videoLatents], 0); // [2B, ...]
    return scheduler.schedule.addNoise(x0, tf.concat([e1, e2], 0), new Array(2 * B).fill(tStart)); // [2B, ...]
  });

  // 3. denoise the last n steps
  const cond2 = tf.tidy(() => doubleCond(options.cond));
  const uncond2 = w !== 1 ? tf.tidy(() => doubleCond(options.uncond ?? (options.cond ? zerosLikeCond(options.cond) : undefined))) : undefined;
  const both = uncond2 && cond2 ? tf.tidy(() => concatCond(uncond2, cond2)) : undefined;
  try {
    for (const t of run) {
      const next = tf.tidy(() => {
        let pred: tf.Tensor;
        if (w === 1) pred = denoiser.predict(x, tf.fill([2 * B], t), cond2);
        else {
          const out = denoiser.predict(tf.concat([x, x], 0), tf.fill([4 * B], t), both); // [4B, ...]
          const [pu, pc] = tf.split(out, 2, 0);
          pred = tf.add(pu, tf.mul(tf.sub(pc, pu), w));
        }
        const { prevSample, predOriginalSample } = scheduler.step(pred, t, x, { eta: ddimEta, rng: stepRng });
        predOriginalSample.dispose();
        return prevSample;
      });
      x.dispose();
      x = next;
    }
    const [first, second] = tf.split(x, 2, 0);
    return { first, second, startTimestep: tStart, timesteps: run, scales: { signal: sc.signal[0], noise: sc.noise[0] } };
  } finally {
    x.dispose();
    const disposeCond = (c?: Conditioning) => c && tf.dispose([c.tokens, c.tokenMask, c.pooled].filter((t): t is tf.Tensor => !!t));
    disposeCond(cond2);
    disposeCond(uncond2);
    disposeCond(both);
  }
}

/** Options of {@link labelSegmentsWith}. */
export interface LabelSegmentsWithOptions {
  /** The generation prompt, passed to the judge. */
  prompt?: string;
  /** What to judge on (one criterion per request), e.g. `'motion smoothness'`. */
  criteria?: string;
  /** Frames per second, passed along with the frames. */
  fps?: number;
  /** Judge calls in flight at once (default 4). */
  concurrency?: number;
  signal?: AbortSignal;
}

/** Segment labels from {@link labelSegmentsWith}. */
export interface SegmentLabels {
  /** Per segment: +1 first better, −1 second better, 0 tie (`denseDpoLoss`'s labels). */
  labels: Array<1 | -1 | 0>;
  /** The judge's verdict per segment. */
  judgements: Judgement[];
}

/**
 * Label aligned segments of two videos with any {@link Judge}, one request per segment: the
 * lean, programmatic path (a reward-function judge needs no network). For VLM judging with several
 * criteria, voting, caching and failure reports use `labelSegments` from the VLM module.
 * @param judge - the judge; it receives `{ kind: 'frames', tensor: [S, H, W, 3] }` for each side.
 * @param first - first video `[T, H, W, 3]` in [-1, 1].
 * @param second - second video, same shape, aligned in time.
 * @param ranges - the segments, e.g. from {@link segmentRanges}.
 * @param options - prompt, criteria, fps, concurrency, abort signal.
 * @returns `labels` (+1/−1/0 per segment, in order) and the judgements.
 * @throws {ShapeError} when the videos differ in shape or are not `[T, H, W, 3]`.
 * @throws {ConfigError} when a range is empty or outside `[0, T)`.
 * @example
 * const { labels } = await labelSegmentsWith(judge, a, b, segmentRanges(16, { segmentFrames: 4 }));
 */
export async function labelSegmentsWith(
  judge: Judge,
  first: tf.Tensor,
  second: tf.Tensor,
  ranges: readonly SegmentRange[],
  options: LabelSegmentsWithOptions = {},
): Promise<SegmentLabels> {
  const fn = 'labelSegmentsWith';
  if (first.rank !== 4 || first.shape[3] !== 3) throw new ShapeError(`Argument 'first' to ${fn} has shape [${first.shape.join(', ')}], expected [T, H, W, 3].`, { argument: 'first', actual: first.shape });
  if (second.shape.join() !== first.shape.join()) {
    throw new ShapeError(`Argument 'second' to ${fn} has shape [${second.shape.join(', ')}], expected [${first.shape.join(', ')}] like 'first'.`, { argument: 'second', actual: second.shape, expected: first.shape });
  }
  const T = first.shape[0];
  for (const [i, r] of ranges.entries()) {
    if (!(Number.isInteger(r.start) && Number.isInteger(r.end) && r.start >= 0 && r.end <= T && r.end > r.start)) {
      throw new ConfigError(`${fn}: segment ${i} is [${r.start}, ${r.end}), expected a non-empty integer range inside [0, ${T}).`);
    }
  }
  const judgements: Judgement[] = new Array(ranges.length);
  let next = 0;
  const worker = async () => {
    while (next < ranges.length) {
      const i = next++;
      const { start, end } = ranges[i];
      const a = tf.slice(first, [start, 0, 0, 0], [end - start, -1, -1, -1]); // [S, H, W, 3]
      const b = tf.slice(second, [start, 0, 0, 0], [end - start, -1, -1, -1]);
      try {
        judgements[i] = await judge.compare(
          { first: { kind: 'frames', tensor: a, fps: options.fps }, second: { kind: 'frames', tensor: b, fps: options.fps }, prompt: options.prompt, criteria: options.criteria },
          { signal: options.signal },
        );
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  };
  const c = Math.max(1, Math.min(options.concurrency ?? 4, ranges.length));
  await Promise.all(Array.from({ length: c }, worker));
  const labels = judgements.map((j) => (j.preference === 'first' ? 1 : j.preference === 'second' ? -1 : 0)) as Array<1 | -1 | 0>;
  return { labels, judgements };
}
