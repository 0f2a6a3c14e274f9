/**
 * The demo's procedural text-to-image world: small RGB images of one coloured shape on a dark
 * background, each with a caption such as "a red triangle".
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import type { Rng } from '../core/random.js';
import { ConfigError } from '../errors.js';

/** Colour names of the world, with their RGB values in [0, 1]. */
export const WORLD_COLOURS = {
  red: [0.95, 0.15, 0.12],
  green: [0.15, 0.8, 0.2],
  blue: [0.15, 0.35, 0.95],
  yellow: [0.95, 0.85, 0.15],
  purple: [0.65, 0.2, 0.85],
} as const satisfies Record<string, readonly [number, number, number]>;

/** A colour word of the world. */
export type WorldColour = keyof typeof WORLD_COLOURS;
/** The shape words of the world. */
export const WORLD_SHAPES = ['square', 'circle', 'triangle'] as const;
/** A shape word of the world. */
export type WorldShape = (typeof WORLD_SHAPES)[number];
/** Every colour word, in a stable order. */
export const COLOUR_NAMES = Object.keys(WORLD_COLOURS) as WorldColour[];

/** Background RGB in [0, 1] (near black). */
export const WORLD_BACKGROUND: readonly [number, number, number] = [0.06, 0.06, 0.08];

/** What one image shows. */
export interface SceneSpec {
  colour: WorldColour;
  shape: WorldShape;
  /** Centre, pixels (x to the right, y down). */
  cx: number;
  cy: number;
  /** Side of the bounding box, pixels. */
  size: number;
}

/** Image side in pixels for the bundled world. */
export const WORLD_IMAGE_SIZE = 16;

/** The caption of a colour and shape: `"a red triangle"`. */
export function captionOf(colour: WorldColour, shape: WorldShape): string {
  return `a ${colour} ${shape}`;
}

/**
 * Parse a caption of the world.
 * @param prompt - e.g. `"a red triangle"`.
 * @returns its colour and shape.
 * @throws {ConfigError} when the caption names no known colour and shape.
 */
export function parseCaption(prompt: string): { colour: WorldColour; shape: WorldShape } {
  const words = prompt.trim().toLowerCase().split(/\s+/);
  const colour = words.find((w) => w in WORLD_COLOURS) as WorldColour | undefined;
  const shape = words.find((w) => (WORLD_SHAPES as readonly string[]).includes(w)) as WorldShape | undefined;
  if (!colour || !shape) {
    throw new ConfigError(`Caption "${prompt}" does not name a colour and a shape of the demo world; colours: ${COLOUR_NAMES.join(', ')}; shapes: ${WORLD_SHAPES.join(', ')}.`);
  }
  return { colour, shape };
}

/** All captions of the world (colours x shapes), in a stable order. */
export function allCaptions(): string[] {
  return COLOUR_NAMES.flatMap((c) => WORLD_SHAPES.map((s) => captionOf(c, s)));
}

/**
 * The held-out evaluation captions: one per colour, shapes rotating, never used for preference
 * training (the base model saw them in pretraining).
 */
export const HELD_OUT_CAPTIONS: readonly string[] = COLOUR_NAMES.map((c, i) => captionOf(c, WORLD_SHAPES[(i + 1) % WORLD_SHAPES.length]));

/** Captions used for on-policy preference pairs: all captions minus {@link HELD_OUT_CAPTIONS}. */
export function trainCaptions(): string[] {
  return allCaptions().filter((c) => !HELD_OUT_CAPTIONS.includes(c));
}

/** Is pixel centre (px, py) inside the shape? */
function inside(spec: SceneSpec, px: number, py: number): boolean {
  const h = spec.size / 2;
  const dx = px - spec.cx;
  const dy = py - spec.cy;
  switch (spec.shape) {
    case 'square':
      return Math.abs(dx) <= h && Math.abs(dy) <= h;
    case 'circle':
      return dx * dx + dy * dy <= h * h;
    case 'triangle': {
      // upward isosceles: apex at top centre, base at the bottom
      if (dy < -h || dy > h) return false;
      const frac = (dy + h) / (2 * h); // 0 at apex, 1 at base
      return Math.abs(dx) <= h * frac;
    }
  }
}

/**
 * Draw a scene into an `[H, W, 3]` float array in [-1, 1] (row-major, 2x2 supersampled edges).
 * @param spec - what to draw.
 * @param size - image side in pixels (default {@link WORLD_IMAGE_SIZE}).
 * @returns `H·W·3` values.
 */
export function renderScene(spec: SceneSpec, size = WORLD_IMAGE_SIZE): Float32Array {
  const out = new Float32Array(size * size * 3);
  const rgb = WORLD_COLOURS[spec.colour];
  const offs = [0.25, 0.75];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      let cover = 0;
      for (const oy of offs) for (const ox of offs) if (inside(spec, x + ox, y + oy)) cover += 0.25;
      for (let c = 0; c < 3; c++) {
        const v = WORLD_BACKGROUND[c] * (1 - cover) + rgb[c] * cover;
        out[(y * size + x) * 3 + c] = v * 2 - 1;
      }
    }
  }
  return out;
}

/**
 * A random scene of a given (or random) colour and shape: random size (45–75% of the side) and
 * position (fully inside the image).
 * @param rng - random stream.
 * @param caption - the caption to draw (default: a random caption of the world).
 * @param size - image side (default {@link WORLD_IMAGE_SIZE}).
 */
export function randomScene(rng: Rng, caption?: string, size = WORLD_IMAGE_SIZE): SceneSpec {
  const { colour, shape } = caption
    ? parseCaption(caption)
    : { colour: COLOUR_NAMES[rng.int(0, COLOUR_NAMES.length)], shape: WORLD_SHAPES[rng.int(0, WORLD_SHAPES.length)] };
  const s = Math.round(size * rng.uniformIn(0.45, 0.75));
  const h = s / 2;
  const cx = rng.uniformIn(h + 0.5, size - h - 0.5);
  const cy = rng.uniformIn(h + 0.5, size - h - 0.5);
  return { colour, shape, cx, cy, size: s };
}

/**
 * A batch of random scenes of the world as one tensor.
 * @param rng - random stream.
 * @param n - how many.
 * @param captions - captions to draw (cycled); default random captions.
 * @returns `images` `[n, S, S, 3]` in [-1, 1] (caller owns) and their `captions`.
 */
export function worldBatch(rng: Rng, n: number, captions?: readonly string[], size = WORLD_IMAGE_SIZE): { images: tf.Tensor4D; captions: string[]; specs: SceneSpec[] } {
  const data = new Float32Array(n * size * size * 3);
  const specs: SceneSpec[] = [];
  for (let i = 0; i < n; i++) {
    const spec = randomScene(rng, captions ? captions[i % captions.length] : undefined, size);
    specs.push(spec);
    data.set(renderScene(spec, size), i * size * size * 3);
  }
  return { images: tf.tensor4d(data, [n, size, size, 3]), captions: specs.map((s) => captionOf(s.colour, s.shape)), specs };
}
