/**
 * The moving-shapes video world: one coloured square or disc gliding at constant velocity over a
 * dark background, T frames of H×W, RGB in [-1, 1]. Small enough to train a video diffusion model
 * on 2 CPU cores in minutes, rich enough that a model can get colour, shape and motion wrong.
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '../../src/index.js';

/** The world's fixed sizes. */
export const WORLD = { frames: 8, size: 16, background: [-0.8, -0.8, -0.7] as const };

/** Palette of shape colours, RGB in [-1, 1]. */
export const COLOURS: ReadonlyArray<readonly [number, number, number]> = [
  [0.9, -0.6, -0.6], // red
  [-0.6, 0.8, -0.6], // green
  [-0.5, -0.3, 0.95], // blue
  [0.95, 0.85, -0.6], // yellow
];

/** One clip's parameters. */
export interface ClipSpec {
  colour: number;
  shape: 'square' | 'disc';
  /** Half-size of the shape in pixels. */
  radius: number;
  /** Position at frame 0 (centre, pixels). */
  x0: number;
  y0: number;
  /** Velocity in pixels per frame. */
  vx: number;
  vy: number;
}

/** Draw a random clip spec that stays inside the frame for all T frames. */
export function randomSpec(rng: Rng): ClipSpec {
  const { frames: T, size: S } = WORLD;
  const radius = rng.int(2, 4); // 2 or 3
  const vx = rng.int(-1, 2) * (rng.uniform() < 0.5 ? 1 : 0.5);
  const vy = rng.int(-1, 2) * (rng.uniform() < 0.5 ? 1 : 0.5);
  const lo = (v: number) => radius + Math.max(0, -v * (T - 1));
  const hi = (v: number) => S - 1 - radius - Math.max(0, v * (T - 1));
  return {
    colour: rng.int(0, COLOURS.length),
    shape: rng.uniform() < 0.5 ? 'square' : 'disc',
    radius,
    x0: rng.uniformIn(lo(vx), Math.max(lo(vx), hi(vx))),
    y0: rng.uniformIn(lo(vy), Math.max(lo(vy), hi(vy))),
    vx,
    vy,
  };
}

/** Render a clip to `[T, S, S, 3]` floats (anti-aliased edges, so sub-pixel motion is smooth). */
export function renderClip(spec: ClipSpec): Float32Array {
  const { frames: T, size: S, background: bg } = WORLD;
  const out = new Float32Array(T * S * S * 3);
  const col = COLOURS[spec.colour];
  for (let t = 0; t < T; t++) {
    const cx = spec.x0 + spec.vx * t;
    const cy = spec.y0 + spec.vy * t;
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) {
        const dx = x - cx;
        const dy = y - cy;
        const d = spec.shape === 'disc' ? Math.hypot(dx, dy) - spec.radius : Math.max(Math.abs(dx), Math.abs(dy)) - spec.radius;
        const cover = Math.min(1, Math.max(0, 0.5 - d)); // 1 inside, 0 outside, linear over one pixel
        const o = ((t * S + y) * S + x) * 3;
        for (let c = 0; c < 3; c++) out[o + c] = bg[c] + cover * (col[c] - bg[c]);
      }
  }
  return out;
}

/** `n` random clips as `[n, T, S, S, 3]`, and their specs. */
export function sampleClips(rng: Rng, n: number): { videos: tf.Tensor; specs: ClipSpec[] } {
  const { frames: T, size: S } = WORLD;
  const specs = Array.from({ length: n }, () => randomSpec(rng));
  const data = new Float32Array(n * T * S * S * 3);
  specs.forEach((s, i) => data.set(renderClip(s), i * T * S * S * 3));
  return { videos: tf.tensor(data, [n, T, S, S, 3]), specs };
}

export { createRng };
