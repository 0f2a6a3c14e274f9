/**
 * A programmatic segment judge for the moving-shapes world: it scores a run of frames on what the
 * world guarantees (one shape of one palette colour, constant size, constant velocity, a clean
 * background) and prefers the higher score. No network: this stands in for a VLM judge.
 */
import type * as tf from '@tensorflow/tfjs';
import { functionJudge, type Judge, type JudgeMedia } from '../../src/index.js';
import { COLOURS, WORLD } from './world.js';

/** The parts of a segment's score (each a penalty, lower is better) and the score itself. */
export interface SegmentQuality {
  /** Mean distance of each frame's shape colour from the segment's mean shape colour (flicker). */
  colourDrift: number;
  /** Distance of the mean shape colour from the nearest palette colour (wrong or washed-out colour). */
  paletteDist: number;
  /** Relative standard deviation of the shape's area across frames (wobble, growing, shrinking). */
  areaVar: number;
  /** Mean distance of background pixels from the background colour (speckles, smears). */
  bgNoise: number;
  /** Fraction of frames where the shape has vanished (fewer than 2 pixels). */
  vanish: number;
  /** Mean |c_{t+1} − 2c_t + c_{t−1}| of the shape's centroid, pixels (jerky motion; 0 for 1–2 frames). */
  accel: number;
  /** −(colourDrift + ½·paletteDist + areaVar + 2·bgNoise + 2·vanish + ¼·accel): higher is better. */
  score: number;
}

const MASK_DIST = 0.7; // colour distance from the background that counts as "shape"

/**
 * Score frames `[S, H, W, 3]` (values in [-1, 1]) of the moving-shapes world.
 * @param data - the frames, row-major.
 * @param S - frame count.
 */
export function segmentQuality(data: ArrayLike<number>, S: number, H = WORLD.size, W = WORLD.size): SegmentQuality {
  const bg = WORLD.background;
  const areas: number[] = [];
  const cols: number[][] = [];
  const cents: number[][] = [];
  let bgSum = 0;
  let bgN = 0;
  for (let t = 0; t < S; t++) {
    let area = 0;
    let sx = 0;
    let sy = 0;
    const col = [0, 0, 0];
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        const o = ((t * H + y) * W + x) * 3;
        const d = Math.hypot(data[o] - bg[0], data[o + 1] - bg[1], data[o + 2] - bg[2]);
        if (d > MASK_DIST) {
          area++;
          sx += x;
          sy += y;
          for (let c = 0; c < 3; c++) col[c] += data[o + c];
        } else {
          bgSum += d;
          bgN++;
        }
      }
    areas.push(area);
    if (area >= 2) {
      cols.push(col.map((v) => v / area));
      cents.push([sx / area, sy / area]);
    }
  }
  const vanish = areas.filter((a) => a < 2).length / S;
  const meanArea = areas.reduce((a, b) => a + b, 0) / S;
  const areaVar = Math.sqrt(areas.reduce((a, b) => a + (b - meanArea) ** 2, 0) / S) / Math.max(meanArea, 1);
  let colourDrift = 0;
  let paletteDist = 1;
  if (cols.length > 0) {
    const mean = [0, 1, 2].map((c) => cols.reduce((a, v) => a + v[c], 0) / cols.length);
    colourDrift = cols.reduce((a, v) => a + Math.hypot(v[0] - mean[0], v[1] - mean[1], v[2] - mean[2]), 0) / cols.length;
    paletteDist = Math.min(...COLOURS.map((p) => Math.hypot(mean[0] - p[0], mean[1] - p[1], mean[2] - p[2])));
  }
  let accel = 0;
  if (cents.length >= 3) {
    for (let i = 1; i + 1 < cents.length; i++) accel += Math.hypot(cents[i + 1][0] - 2 * cents[i][0] + cents[i - 1][0], cents[i + 1][1] - 2 * cents[i][1] + cents[i - 1][1]);
    accel /= cents.length - 2;
  }
  const bgNoise = bgN > 0 ? bgSum / bgN : 0;
  const score = -(colourDrift + 0.5 * paletteDist + areaVar + 2 * bgNoise + 2 * vanish + 0.25 * accel);
  return { colourDrift, paletteDist, areaVar, bgNoise, vanish, accel, score };
}

/** Quality of a `[S, H, W, 3]` tensor (reads it synchronously). */
export function tensorQuality(frames: tf.Tensor): SegmentQuality {
  const [S, H, W] = frames.shape;
  return segmentQuality(frames.dataSync(), S, H, W);
}

/**
 * The judge: compares two aligned frame runs (a segment, or a whole clip for video-level labels)
 * by {@link segmentQuality}'s score; score differences within `tieTolerance` are ties.
 */
export function shapesJudge(tieTolerance = 0.02): Judge {
  return functionJudge(
    (m: JudgeMedia) => {
      if (m.kind !== 'frames' || !m.tensor) throw new Error('shapesJudge compares frame tensors [S, H, W, 3].');
      return tensorQuality(m.tensor).score;
    },
    { id: `shapes-quality@1/tie${tieTolerance}`, tieTolerance },
  );
}
