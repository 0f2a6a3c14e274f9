/**
 * The demo's programmatic reward judge: does an image show the prompt's colour and shape, and is
 * it clean? Measured from pixels with small hand-written classifiers; implements {@link Judge}.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { MediaError } from '../errors.js';
import type { Judge, JudgeMedia, JudgeRequest, Judgement } from '../vlm/types.js';
import { COLOUR_NAMES, WORLD_BACKGROUND, WORLD_COLOURS, WORLD_SHAPES, parseCaption, renderScene, type WorldColour, type WorldShape } from './world.js';

/** What the classifiers see in one image. */
export interface ImageAnalysis {
  /** Most likely colour, or null when there is no foreground. */
  colour: WorldColour | null;
  /** Probability per colour (sums to 1; all 0 without foreground). */
  colourProbs: Record<WorldColour, number>;
  /** Most likely shape, or null when there is no foreground. */
  shape: WorldShape | null;
  /** Probability per shape. */
  shapeProbs: Record<WorldShape, number>;
  /** Image quality in [0, 1]: clean background, uniform fill, one plausible-size blob. */
  quality: number;
  /** Foreground pixels / all pixels. */
  foreground: number;
  /** Shape features: bounding-box fill, top width / middle width, bottom width / middle width. */
  features: [number, number, number];
}

/** Reward of one image for one prompt, with its parts. */
export interface RewardBreakdown {
  /** 0.4·colour + 0.4·shape + 0.2·quality, in [0, 1]. */
  reward: number;
  /** Probability the image shows the prompt's colour. */
  colour: number;
  /** Probability the image shows the prompt's shape. */
  shape: number;
  quality: number;
  /** Hard verdicts: argmax colour and shape equal the prompt's. */
  colourCorrect: boolean;
  shapeCorrect: boolean;
}

const FG_THRESHOLD = 0.3; // max-channel distance from the background, in [0, 1] units
const PURE_THRESHOLD = 0.5;
const COLOUR_TEMP = 0.08;
const SHAPE_TEMP = 0.06;

function toUnit(pixels: ArrayLike<number>): Float32Array {
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = Math.min(1, Math.max(0, (pixels[i] + 1) / 2));
  return out;
}

function softmaxNeg(dists: number[], temp: number): number[] {
  const m = Math.min(...dists);
  const e = dists.map((d) => Math.exp(-(d - m) / temp));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Largest 4-connected component of a mask. */
function largestComponent(mask: Uint8Array, w: number, h: number): { pixels: number[]; total: number } {
  const seen = new Uint8Array(mask.length);
  let best: number[] = [];
  let total = 0;
  for (let i = 0; i < mask.length; i++) {
    if (!mask[i] || seen[i]) continue;
    const comp: number[] = [];
    const stack = [i];
    seen[i] = 1;
    while (stack.length) {
      const p = stack.pop()!;
      comp.push(p);
      const x = p % w;
      const y = (p - x) / w;
      const nb = [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1];
      for (const q of nb) if (q >= 0 && mask[q] && !seen[q]) (seen[q] = 1), stack.push(q);
    }
    total += comp.length;
    if (comp.length > best.length) best = comp;
  }
  return { pixels: best, total };
}

/** Shape features of a set of pixel indices: [fill, top/mid, bottom/mid]. */
function shapeFeatures(pixels: number[], w: number): [number, number, number] {
  let x0 = Infinity, x1 = -Infinity, y0 = Infinity, y1 = -Infinity;
  for (const p of pixels) {
    const x = p % w, y = (p - x) / w;
    x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
  }
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const rows = new Array(bh).fill(0);
  for (const p of pixels) rows[Math.floor(p / w) - y0] += 1;
  const q = Math.max(1, Math.round(bh / 4));
  const mean = (a: number[]) => (a.length ? a.reduce((s, v) => s + v, 0) / a.length : 0);
  const top = mean(rows.slice(0, q));
  const bottom = mean(rows.slice(bh - q));
  const mid = Math.max(1, mean(rows.slice(Math.floor(bh / 2) - Math.floor(q / 2), Math.floor(bh / 2) - Math.floor(q / 2) + q)));
  return [pixels.length / (bw * bh), top / mid, bottom / mid];
}

let prototypes: Record<WorldShape, [number, number, number]> | null = null;

/** Shape prototypes: mean features of clean renders at several sizes and offsets. */
function shapePrototypes(): Record<WorldShape, [number, number, number]> {
  if (prototypes) return prototypes;
  const out = {} as Record<WorldShape, [number, number, number]>;
  for (const shape of WORLD_SHAPES) {
    const acc: [number, number, number] = [0, 0, 0];
    let n = 0;
    for (const size of [7, 8, 9, 10, 11, 12]) {
      for (const off of [0, 0.3, 0.5]) {
        const img = renderScene({ colour: 'red', shape, cx: 8 + off, cy: 8 + off, size }, 16);
        const f = analyseFeaturesOnly(img, 16, 16);
        if (!f) continue;
        f.forEach((v, i) => (acc[i] += v));
        n++;
      }
    }
    out[shape] = acc.map((v) => v / n) as [number, number, number];
  }
  prototypes = out;
  return out;
}

function foregroundMask(unit: Float32Array, n: number, threshold: number): Uint8Array {
  const mask = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let c = 0; c < 3; c++) d = Math.max(d, Math.abs(unit[i * 3 + c] - WORLD_BACKGROUND[c]));
    mask[i] = d > threshold ? 1 : 0;
  }
  return mask;
}

function analyseFeaturesOnly(pixels: ArrayLike<number>, h: number, w: number): [number, number, number] | null {
  const unit = toUnit(pixels);
  const { pixels: comp } = largestComponent(foregroundMask(unit, h * w, FG_THRESHOLD), w, h);
  return comp.length >= 3 ? shapeFeatures(comp, w) : null;
}

/**
 * Classify one image of the demo world.
 * @param pixels - `H·W·3` values in [-1, 1], row-major RGB.
 * @param h - height. @param w - width.
 * @returns colour and shape verdicts with probabilities, a quality score and the features.
 * @throws {MediaError} when `pixels` has the wrong length.
 * @example
 * const a = analyseImage(renderScene({ colour: 'red', shape: 'circle', cx: 8, cy: 8, size: 10 }), 16, 16);
 * a.colour; // 'red'
 */
export function analyseImage(pixels: ArrayLike<number>, h: number, w: number): ImageAnalysis {
  if (pixels.length !== h * w * 3) throw new MediaError(`analyseImage: expected ${h}x${w}x3 = ${h * w * 3} values, got ${pixels.length}.`);
  const n = h * w;
  const unit = toUnit(pixels);
  const mask = foregroundMask(unit, n, FG_THRESHOLD);
  const pure = foregroundMask(unit, n, PURE_THRESHOLD);
  const { pixels: comp, total } = largestComponent(mask, w, h);
  const zeroC = Object.fromEntries(COLOUR_NAMES.map((c) => [c, 0])) as Record<WorldColour, number>;
  const zeroS = Object.fromEntries(WORLD_SHAPES.map((s) => [s, 0])) as Record<WorldShape, number>;
  if (comp.length < 3) {
    return { colour: null, colourProbs: zeroC, shape: null, shapeProbs: zeroS, quality: 0, foreground: total / n, features: [0, 0, 0] };
  }
  // colour: mean of the "pure" pixels of the main blob (all blob pixels if none is pure)
  const pureComp = comp.filter((p) => pure[p]);
  const colourPixels = pureComp.length >= 2 ? pureComp : comp;
  const mean = [0, 0, 0];
  for (const p of colourPixels) for (let c = 0; c < 3; c++) mean[c] += unit[p * 3 + c] / colourPixels.length;
  const cd = COLOUR_NAMES.map((name) => Math.hypot(...WORLD_COLOURS[name].map((v, c) => v - mean[c])));
  const cp = softmaxNeg(cd, COLOUR_TEMP);
  const colourProbs = Object.fromEntries(COLOUR_NAMES.map((c, i) => [c, cp[i]])) as Record<WorldColour, number>;
  // shape: nearest prototype in feature space
  const features = shapeFeatures(comp, w);
  const protos = shapePrototypes();
  const sd = WORLD_SHAPES.map((s) => Math.hypot(...protos[s].map((v, i) => (v - features[i]) * (i === 0 ? 2 : 1))));
  const sp = softmaxNeg(sd, SHAPE_TEMP);
  const shapeProbs = Object.fromEntries(WORLD_SHAPES.map((s, i) => [s, sp[i]])) as Record<WorldShape, number>;
  // quality: clean background, uniform colour, one blob of plausible size
  let bgErr = 0, bgN = 0;
  for (let i = 0; i < n; i++) {
    if (mask[i]) continue;
    for (let c = 0; c < 3; c++) bgErr += Math.abs(unit[i * 3 + c] - WORLD_BACKGROUND[c]);
    bgN += 3;
  }
  const clean = Math.max(0, 1 - (bgN ? bgErr / bgN : 0) / 0.1);
  let fgVar = 0;
  for (const p of colourPixels) for (let c = 0; c < 3; c++) fgVar += (unit[p * 3 + c] - mean[c]) ** 2 / (3 * colourPixels.length);
  const uniform = Math.max(0, 1 - Math.sqrt(fgVar) / 0.15);
  const single = comp.length / total;
  const frac = comp.length / n;
  const sizeOk = frac < 0.08 ? frac / 0.08 : frac > 0.65 ? Math.max(0, 1 - (frac - 0.65) / 0.2) : 1;
  const quality = Math.max(0, Math.min(1, (0.35 * clean + 0.35 * uniform + 0.3 * single) * sizeOk));
  const colour = COLOUR_NAMES[cp.indexOf(Math.max(...cp))];
  const shape = WORLD_SHAPES[sp.indexOf(Math.max(...sp))];
  return { colour, colourProbs, shape, shapeProbs, quality, foreground: total / n, features };
}

/**
 * The demo reward of an image for a prompt: 0.4·P(colour) + 0.4·P(shape) + 0.2·quality.
 * @param pixels - `H·W·3` values in [-1, 1]. @param h - height. @param w - width.
 * @param prompt - a caption of the world, e.g. `"a red triangle"`.
 * @returns the reward and its parts.
 * @throws {ConfigError} when the prompt is not a caption of the world.
 */
export function rewardOf(pixels: ArrayLike<number>, h: number, w: number, prompt: string): RewardBreakdown {
  const { colour, shape } = parseCaption(prompt);
  const a = analyseImage(pixels, h, w);
  const cs = a.colourProbs[colour];
  const ss = a.shapeProbs[shape];
  return {
    reward: 0.4 * cs + 0.4 * ss + 0.2 * a.quality,
    colour: cs,
    shape: ss,
    quality: a.quality,
    colourCorrect: a.colour === colour,
    shapeCorrect: a.shape === shape,
  };
}

/**
 * Rewards of a batch of images for their prompts.
 * @param images - `[B, H, W, 3]` in [-1, 1] (not disposed).
 * @param prompts - B captions.
 * @returns one {@link RewardBreakdown} per image.
 * @throws {MediaError} when the counts or the shape disagree.
 */
export function batchRewards(images: tf.Tensor, prompts: readonly string[]): RewardBreakdown[] {
  if (images.rank !== 4 || images.shape[3] !== 3 || images.shape[0] !== prompts.length) {
    throw new MediaError(`batchRewards: expected [${prompts.length}, H, W, 3] images for ${prompts.length} prompts, got [${images.shape.join(', ')}].`);
  }
  const [b, h, w] = images.shape as [number, number, number, number];
  const data = images.dataSync();
  const per = h * w * 3;
  return Array.from({ length: b }, (_, i) => rewardOf(data.subarray(per * i, per * (i + 1)), h, w, prompts[i]));
}

function mediaPixels(m: JudgeMedia, who: string): { data: Float32Array; h: number; w: number } {
  if (m.kind !== 'image' || !m.tensor) throw new MediaError(`${who}: the shapes reward judge needs { kind: 'image', tensor: [H, W, 3] in [-1, 1] }, got kind '${m.kind}' without a tensor.`);
  const t = m.tensor;
  if (t.rank !== 3 || t.shape[2] !== 3) throw new MediaError(`${who}: image tensor must be [H, W, 3], got [${t.shape.join(', ')}].`);
  return { data: t.dataSync() as Float32Array, h: t.shape[0]!, w: t.shape[1]! };
}

/**
 * The demo's programmatic judge: compares two images by {@link rewardOf} for the request's prompt.
 * Differences under `tieMargin` (default 0.02) are ties.
 * @example
 * const j = new ShapesRewardJudge();
 * const v = await j.compare({ prompt: 'a red circle', first: { kind: 'image', tensor: a }, second: { kind: 'image', tensor: b } });
 */
export class ShapesRewardJudge implements Judge {
  /** Judge id (function name + version). */
  readonly id = 'prefkit-demo-shapes-reward@1';
  /** Reward differences under this are ties. */
  readonly tieMargin: number;
  /** @param opts - `tieMargin` (default 0.02). */
  constructor(opts: { tieMargin?: number } = {}) {
    this.tieMargin = opts.tieMargin ?? 0.02;
  }
  /**
   * Compare two images for a prompt.
   * @throws {VlmError|ConfigError|MediaError} without a world caption or with media other than image tensors.
   */
  async compare(request: JudgeRequest): Promise<Judgement> {
    if (!request.prompt) throw new MediaError('ShapesRewardJudge.compare needs request.prompt (a caption such as "a red circle").');
    const a = mediaPixels(request.first, 'ShapesRewardJudge.compare(first)');
    const b = mediaPixels(request.second, 'ShapesRewardJudge.compare(second)');
    const ra = rewardOf(a.data, a.h, a.w, request.prompt);
    const rb = rewardOf(b.data, b.h, b.w, request.prompt);
    const d = ra.reward - rb.reward;
    const preference = Math.abs(d) < this.tieMargin ? 'tie' : d > 0 ? 'first' : 'second';
    return {
      preference,
      confidence: Math.min(1, Math.abs(d) / 0.4),
      rationale: `first: colour ${ra.colour.toFixed(2)}, shape ${ra.shape.toFixed(2)}, quality ${ra.quality.toFixed(2)}; second: colour ${rb.colour.toFixed(2)}, shape ${rb.shape.toFixed(2)}, quality ${rb.quality.toFixed(2)}`,
      scores: [ra.reward, rb.reward],
    };
  }
}
