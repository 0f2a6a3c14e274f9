/**
 * Tensors back to files: PNG of one image, and PNG grids with optional labels.
 * @module
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, MediaError, ShapeError } from '../errors.js';

/**
 * Map float values in [-1, 1] to bytes: round((v + 1) · 127.5), clipped to 0..255; NaN → 0.
 * @example
 * unitToBytes([-1, 0, 1]); // Uint8Array [0, 128, 255]
 */
export function unitToBytes(values: ArrayLike<number>): Uint8Array {
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] + 1) * 127.5);
    out[i] = v > 255 ? 255 : v > 0 ? v : 0;
  }
  return out;
}

function checkImage(t: tf.Tensor, name: string, fn: string): [number, number, number] {
  if (t.rank !== 3 || ![1, 3, 4].includes(t.shape[2]!)) {
    throw new ShapeError(`Argument '${name}' to ${fn} has shape [${t.shape.join(', ')}], expected [H, W, C] with C in {1, 3, 4}.`, {
      argument: name,
      actual: [...t.shape],
      expected: [null, null, null],
    });
  }
  return t.shape as [number, number, number];
}

async function toBytes(t: tf.Tensor): Promise<Uint8Array> {
  return unitToBytes(await t.data<'float32'>()); // sync point: one read per image
}

/**
 * Encode an image tensor `[H, W, C]` (C = 1, 3 or 4) with values in [-1, 1] as PNG bytes.
 *
 * @param image - `[H, W, C]`, values in [-1, 1] (clipped); not disposed.
 * @returns the PNG file bytes.
 * @throws {ShapeError} when the tensor is not `[H, W, 1|3|4]`.
 * @example
 * const png = await encodePng(tf.zeros([8, 8, 3])); // mid-grey 8 × 8
 */
export async function encodePng(image: tf.Tensor): Promise<Buffer> {
  const [h, w, c] = checkImage(image, 'image', 'encodePng');
  const bytes = await toBytes(image);
  return sharp(bytes, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } })
    .png()
    .toBuffer();
}

/**
 * Write an image tensor `[H, W, C]` with values in [-1, 1] to a PNG file (directories made).
 *
 * @param image - `[H, W, C]` with C in {1, 3, 4}, values in [-1, 1]; not disposed.
 * @param path - the output file.
 * @throws {ShapeError} for a wrong shape. @throws {MediaError} when the file cannot be written.
 * @example
 * await saveImage(await loadImage('in.jpg', { size: 64 }), 'out/in-64.png');
 */
export async function saveImage(image: tf.Tensor, path: string): Promise<void> {
  const png = await encodePng(image);
  try {
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, png);
  } catch (e) {
    throw new MediaError(`Cannot write image ${path}: ${(e as Error).message}`, { file: path, cause: e });
  }
}

/** Options of {@link imageGrid}. */
export interface ImageGridOptions {
  /** Images per row. Default ⌈√N⌉. */
  cols?: number;
  /** One caption per image, drawn under it (SVG text; fonts depend on the system). */
  labels?: readonly string[];
  /** Pixels between and around cells. Default 2. */
  padding?: number;
  /** Height of the caption band under each image when `labels` are given. Default 14. */
  labelHeight?: number;
  /** Background colour (`'#rrggbb'`). Default white. */
  background?: string;
  /** Also write the PNG to this path. */
  path?: string;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/**
 * Lay images out in a grid and encode it as PNG, with an optional caption under each image.
 *
 * Cell `i` sits at row ⌊i / cols⌋, column i mod cols, its top-left corner at
 * `(padding + col · (W + padding), padding + row · (H + labelHeight + padding))`.
 * The grid is `cols · W + (cols + 1) · padding` wide and
 * `rows · (H + labelHeight) + (rows + 1) · padding` high.
 *
 * @param images - `[N, H, W, C]` or a list of `[H, W, C]` tensors of one shape, values in [-1, 1]; not disposed.
 * @param options - cols, labels, padding, labelHeight, background, path ({@link ImageGridOptions}).
 * @returns the PNG bytes.
 * @throws {ShapeError} when images differ in shape. @throws {ConfigError} for bad options.
 * @example
 * const png = await imageGrid([a, b, c, d], { cols: 2, labels: ['base', 'tuned', 'base', 'tuned'], path: 'grid.png' });
 */
export async function imageGrid(images: tf.Tensor | readonly tf.Tensor[], options: ImageGridOptions = {}): Promise<Buffer> {
  const list: tf.Tensor[] = Array.isArray(images) ? [...images] : tf.unstack(images as tf.Tensor);
  const owned = !Array.isArray(images);
  try {
    if (list.length === 0) throw new ConfigError('imageGrid: no images given.');
    const [h, w, c] = checkImage(list[0], 'images[0]', 'imageGrid');
    list.forEach((t, i) => {
      if (t.shape.join() !== list[0].shape.join()) {
        throw new ShapeError(`Argument 'images[${i}]' to imageGrid has shape [${t.shape.join(', ')}], expected [${list[0].shape.join(', ')}] like images[0].`, {
          argument: `images[${i}]`,
          actual: [...t.shape],
          expected: [...list[0].shape],
        });
      }
    });
    const n = list.length;
    const cols = options.cols ?? Math.ceil(Math.sqrt(n));
    if (!Number.isInteger(cols) || cols < 1) throw new ConfigError(`imageGrid: cols must be a positive integer, got ${cols}.`);
    const pad = options.padding ?? 2;
    if (!Number.isInteger(pad) || pad < 0) throw new ConfigError(`imageGrid: padding must be a non-negative integer, got ${pad}.`);
    const labels = options.labels;
    if (labels && labels.length !== n) throw new ConfigError(`imageGrid: got ${labels.length} labels for ${n} images; give one per image.`);
    const lh = labels ? (options.labelHeight ?? 14) : 0;
    const rows = Math.ceil(n / cols);
    const gridW = cols * w + (cols + 1) * pad;
    const gridH = rows * (h + lh) + (rows + 1) * pad;
    const bg = options.background ?? '#ffffff';
    if (!/^#[0-9a-f]{6}$/i.test(bg)) throw new ConfigError(`imageGrid: background must be '#rrggbb', got ${JSON.stringify(bg)}.`);

    const composites: sharp.OverlayOptions[] = [];
    for (let i = 0; i < n; i++) {
      const left = pad + (i % cols) * (w + pad);
      const top = pad + Math.floor(i / cols) * (h + lh + pad);
      const bytes = await toBytes(list[i]);
      const cell = await sharp(bytes, { raw: { width: w, height: h, channels: c as 1 | 3 | 4 } })
        .toColourspace('srgb')
        .png()
        .toBuffer();
      composites.push({ input: cell, left, top });
      if (labels && lh > 0) {
        // shrink long labels to the cell width (≈ 0.6 em per character in sans-serif)
        const fontSize = Math.max(5, Math.min(Math.floor(lh * 0.75), Math.floor(w / (0.6 * Math.max(1, labels[i].length)))));
        const svg =
          `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${lh}">` +
          `<text x="${w / 2}" y="${Math.floor(lh * 0.8)}" font-family="sans-serif" font-size="${fontSize}" text-anchor="middle" fill="#000000">${escapeXml(labels[i])}</text></svg>`;
        composites.push({ input: Buffer.from(svg), left, top: top + h });
      }
    }
    const rgba = await sharp({ create: { width: gridW, height: gridH, channels: 3, background: bg } })
      .composite(composites)
      .png()
      .toBuffer();
    const png = await sharp(rgba).removeAlpha().png().toBuffer(); // composite adds an alpha band

    if (options.path) {
      try {
        await mkdir(dirname(options.path), { recursive: true });
        await writeFile(options.path, png);
      } catch (e) {
        throw new MediaError(`Cannot write image grid ${options.path}: ${(e as Error).message}`, { file: options.path, cause: e });
      }
    }
    return png;
  } finally {
    if (owned) tf.dispose(list);
  }
}
