/**
 * Image decoding with sharp: any format sharp reads, EXIF-oriented, alpha flattened,
 * converted to 8-bit sRGB, resized and cropped, returned as float32 in [-1, 1].
 *
 * Bad input (zero bytes, not an image, truncated, or a header that claims more pixels
 * than a limit) is a {@link MediaError} naming the file, raised before any large allocation:
 * the header is read first and checked against `maxPixels` before a single pixel is decoded.
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, MediaError } from '../errors.js';
import type { Rng } from '../core/random.js';

/** A file path, or the encoded bytes of an image (PNG, JPEG, WebP, GIF, TIFF, AVIF, ...). */
export type ImageSource = string | Uint8Array;

/** An RGB colour with 0..255 channels, or a CSS colour string such as `'#ffffff'`. */
export type Background = string | { r: number; g: number; b: number };

/** Default pixel limit for headers: 2^26 ≈ 67 megapixels (an 8192 × 8192 image). */
export const DEFAULT_MAX_PIXELS = 2 ** 26;

/** Options of {@link loadImage}. */
export interface LoadImageOptions {
  /**
   * Output size: a number for a square, or `[height, width]`. Omit to keep the
   * (EXIF-oriented) original size.
   */
  size?: number | readonly [number, number];
  /**
   * How the image meets `size`: `'cover'` scales to cover and crops the excess (default),
   * `'contain'` scales to fit and pads with `background`, `'fill'` stretches.
   */
  fit?: 'cover' | 'contain' | 'fill';
  /** Which part a `'cover'` crop keeps: `'center'` (default) or `'random'` (needs `rng`). */
  crop?: 'center' | 'random';
  /** Mirror left-right: `true`, `false` (default), or `'random'` (probability ½, needs `rng`). */
  flip?: boolean | 'random';
  /** Random stream for `crop: 'random'` and `flip: 'random'`. */
  rng?: Rng;
  /** Colour that alpha is flattened onto, and that `'contain'` pads with. Default white. */
  background?: Background;
  /**
   * Largest accepted width × height read from the header, checked before decoding
   * (decompression bombs). Default {@link DEFAULT_MAX_PIXELS}.
   */
  maxPixels?: number;
  /**
   * How strict decoding is (sharp's `failOn`): `'error'` (default) rejects truncated and corrupt
   * files but tolerates benign decoder warnings (e.g. extraneous bytes after a JPEG);
   * `'warning'` rejects those too; `'truncated'` rejects only truncation.
   */
  failOn?: 'truncated' | 'error' | 'warning';
}

/** What {@link decodeImage} returns: 8-bit RGB pixels, row-major `[H, W, 3]`. */
export interface DecodedImage {
  /** `height * width * 3` bytes, RGB interleaved. */
  data: Uint8Array;
  height: number;
  width: number;
}

interface ResolvedSize {
  height: number;
  width: number;
}

function describe(source: ImageSource): string {
  return typeof source === 'string' ? source : `<${source.byteLength}-byte buffer>`;
}

function resolveSize(size: LoadImageOptions['size']): ResolvedSize | undefined {
  if (size === undefined) return undefined;
  const [height, width] = typeof size === 'number' ? [size, size] : [size[0], size[1]];
  for (const v of [height, width]) {
    if (!Number.isInteger(v) || v < 1 || v > 65535) {
      throw new ConfigError(`loadImage: size must be a positive integer or [height, width] of positive integers (≤ 65535), got ${JSON.stringify(size)}.`);
    }
  }
  return { height, width };
}

function toRgb(bg: Background | undefined): { r: number; g: number; b: number; alpha: number } {
  if (bg === undefined) return { r: 255, g: 255, b: 255, alpha: 1 };
  if (typeof bg === 'string') {
    const m = /^#?([0-9a-f]{6})$/i.exec(bg.trim());
    if (!m) throw new ConfigError(`loadImage: background must be '#rrggbb' or { r, g, b } with 0..255 channels, got ${JSON.stringify(bg)}.`);
    const n = parseInt(m[1], 16);
    return { r: (n >> 16) & 255, g: (n >> 8) & 255, b: n & 255, alpha: 1 };
  }
  for (const k of ['r', 'g', 'b'] as const) {
    const v = bg[k];
    if (!Number.isFinite(v) || v < 0 || v > 255) {
      throw new ConfigError(`loadImage: background.${k} must be in 0..255, got ${v}.`);
    }
  }
  return { r: Math.round(bg.r), g: Math.round(bg.g), b: Math.round(bg.b), alpha: 1 };
}

/** Read the bytes of a source; zero-byte and unreadable files are a {@link MediaError}. */
async function readSource(source: ImageSource): Promise<Buffer> {
  if (typeof source !== 'string') {
    if (source.byteLength === 0) throw new MediaError(`Image ${describe(source)} is empty (0 bytes); expected an encoded image.`);
    return Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
  }
  let size: number;
  try {
    const st = await stat(source);
    if (!st.isFile()) throw new MediaError(`Image ${source} is not a regular file.`, { file: source });
    size = st.size;
  } catch (e) {
    if (e instanceof MediaError) throw e;
    throw new MediaError(`Cannot read image ${source}: ${(e as Error).message}`, { file: source, cause: e });
  }
  if (size === 0) throw new MediaError(`Image ${source} is empty (0 bytes); expected an encoded image.`, { file: source });
  try {
    return await readFile(source);
  } catch (e) {
    throw new MediaError(`Cannot read image ${source}: ${(e as Error).message}`, { file: source, cause: e });
  }
}

/**
 * Decode an image to 8-bit sRGB RGB bytes, with EXIF orientation, alpha flattening,
 * resizing and cropping applied (the byte-level half of {@link loadImage}).
 *
 * @param source - a file path or encoded image bytes.
 * @param options - see {@link LoadImageOptions}.
 * @returns `{ data, height, width }`, `data` being `[H, W, 3]` row-major bytes.
 * @throws {MediaError} for a zero-byte, non-image, truncated or corrupt file, or one whose
 *   header claims more than `maxPixels` pixels (checked before decoding).
 * @throws {ConfigError} for invalid options, or a random crop/flip without `rng`.
 * @example
 * const { data, height, width } = await decodeImage('cat.jpg', { size: [48, 64] }); // 48·64·3 bytes
 */
export async function decodeImage(source: ImageSource, options: LoadImageOptions = {}): Promise<DecodedImage> {
  const file = typeof source === 'string' ? source : undefined;
  const name = describe(source);
  const size = resolveSize(options.size);
  const fit = options.fit ?? 'cover';
  const crop = options.crop ?? 'center';
  const flipOpt = options.flip ?? false;
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  const bg = toRgb(options.background);
  const failOn = options.failOn ?? 'error';
  if (!['truncated', 'error', 'warning'].includes(failOn)) {
    throw new ConfigError(`loadImage: failOn must be 'truncated', 'error' or 'warning', got ${JSON.stringify(failOn)}.`);
  }
  if (!['cover', 'contain', 'fill'].includes(fit)) throw new ConfigError(`loadImage: unknown fit ${JSON.stringify(fit)}. Expected one of: cover, contain, fill.`);
  if (!['center', 'random'].includes(crop)) throw new ConfigError(`loadImage: unknown crop ${JSON.stringify(crop)}. Expected one of: center, random.`);
  if (flipOpt !== true && flipOpt !== false && flipOpt !== 'random') {
    throw new ConfigError(`loadImage: flip must be true, false or 'random', got ${JSON.stringify(flipOpt)}.`);
  }
  if (!(Number.isFinite(maxPixels) && maxPixels > 0)) throw new ConfigError(`loadImage: maxPixels must be a positive number, got ${maxPixels}.`);
  if ((crop === 'random' && size && fit === 'cover') || flipOpt === 'random') {
    if (!options.rng) throw new ConfigError(`loadImage: crop 'random' and flip 'random' need an rng (createRng(seed)); none was given.`);
  }

  const bytes = await readSource(source);

  // 1. Header only: format and claimed dimensions, before any pixel is decoded.
  let meta: sharp.Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
  } catch (e) {
    throw new MediaError(`Image ${name} is not a readable image (${(e as Error).message}). Accepted: any format sharp decodes (PNG, JPEG, WebP, GIF, TIFF, AVIF, SVG).`, {
      file,
      cause: e,
    });
  }
  const w0 = meta.width ?? 0;
  const h0 = meta.height ?? 0;
  if (!(w0 > 0 && h0 > 0)) throw new MediaError(`Image ${name} has no dimensions in its header (got ${w0} × ${h0}).`, { file });
  if (w0 * h0 > maxPixels) {
    throw new MediaError(
      `Image ${name} claims ${w0} × ${h0} = ${w0 * h0} pixels, over the limit of ${maxPixels} (maxPixels); refusing to decode (possible decompression bomb). Raise maxPixels if the file is trusted.`,
      { file },
    );
  }
  // Displayed size after EXIF orientation (5..8 swap axes).
  const swap = (meta.orientation ?? 1) >= 5;
  const W = swap ? h0 : w0;
  const H = swap ? w0 : h0;

  // 2. The pipeline: orient → flatten alpha → sRGB → resize/crop → flip → 8-bit RGB.
  let img = sharp(bytes, { limitInputPixels: maxPixels, failOn, pages: 1, autoOrient: true });
  if (meta.hasAlpha) img = img.flatten({ background: bg });
  img = img.toColourspace('srgb');
  let outH = H;
  let outW = W;
  if (size) {
    outH = size.height;
    outW = size.width;
    if (fit === 'cover') {
      const scale = Math.max(outW / W, outH / H);
      const rw = Math.max(outW, Math.round(W * scale));
      const rh = Math.max(outH, Math.round(H * scale));
      let left = Math.floor((rw - outW) / 2);
      let top = Math.floor((rh - outH) / 2);
      if (crop === 'random') {
        left = options.rng!.int(0, rw - outW + 1);
        top = options.rng!.int(0, rh - outH + 1);
      }
      img = img.resize({ width: rw, height: rh, fit: 'fill', kernel: 'lanczos3' });
      if (rw !== outW || rh !== outH) img = img.extract({ left, top, width: outW, height: outH });
    } else {
      img = img.resize({ width: outW, height: outH, fit, background: bg, kernel: 'lanczos3' });
    }
  }
  const flip = flipOpt === 'random' ? options.rng!.uniform() < 0.5 : flipOpt;
  if (flip) img = img.flop();
  let out: { data: Buffer; info: sharp.OutputInfo };
  try {
    out = await img.removeAlpha().raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new MediaError(`Image ${name} could not be decoded; it may be truncated or corrupt (${(e as Error).message}).`, { file, cause: e });
  }
  const { info } = out;
  let data = new Uint8Array(out.data.buffer, out.data.byteOffset, out.data.byteLength);
  if (info.width !== outW || info.height !== outH) {
    throw new MediaError(`Image ${name} decoded to ${info.width} × ${info.height}, expected ${outW} × ${outH}.`, { file });
  }
  if (info.channels === 1) {
    const rgb = new Uint8Array(outW * outH * 3);
    for (let i = 0; i < outW * outH; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = data[i];
    data = rgb;
  } else if (info.channels !== 3) {
    throw new MediaError(`Image ${name} decoded to ${info.channels} channels, expected 3 (RGB).`, { file });
  }
  return { data, height: outH, width: outW };
}

/**
 * Map 8-bit RGB bytes to float32 in [-1, 1]: v / 127.5 − 1 (written into `out` at `offset` when given).
 * @example
 * bytesToUnit(new Uint8Array([0, 255])); // Float32Array [-1, 1]
 */
export function bytesToUnit(data: Uint8Array, out?: Float32Array, offset = 0): Float32Array {
  const f = out ?? new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) f[offset + i] = data[i] / 127.5 - 1;
  return f;
}

/**
 * Load an image as a float32 tensor `[H, W, 3]` in [-1, 1] (0 → −1, 255 → 1).
 *
 * Honours EXIF orientation, flattens alpha onto `background`, and converts grayscale,
 * CMYK, 16-bit and palette images to 8-bit sRGB RGB, then resizes (lanczos3) and crops.
 *
 * @param source - a file path or encoded image bytes.
 * @param options - size, fit, crop, flip, rng, background, maxPixels ({@link LoadImageOptions}).
 * @returns a new float32 tensor `[H, W, 3]`; the caller disposes it.
 * @throws {MediaError} for a zero-byte, non-image, truncated or corrupt file, or a header over `maxPixels`.
 * @throws {ConfigError} for invalid options.
 * @example
 * const x = await loadImage('cat.jpg', { size: 64 }); // [64, 64, 3]
 * const y = await loadImage('cat.jpg', { size: 64, crop: 'random', flip: 'random', rng: createRng(1) });
 */
export async function loadImage(source: ImageSource, options: LoadImageOptions = {}): Promise<tf.Tensor3D> {
  const d = await decodeImage(source, options);
  return tf.tensor3d(bytesToUnit(d.data), [d.height, d.width, 3], 'float32');
}

/**
 * Load several images of one size as a batch `[B, H, W, 3]` in [-1, 1], decoding with
 * bounded parallelism.
 *
 * @param sources - file paths or encoded bytes.
 * @param options - as {@link loadImage}, `size` required; plus `concurrency` (default 4).
 * @returns a new float32 tensor `[B, H, W, 3]`.
 * @throws {MediaError} for the first bad file (the message names it).
 * @throws {ConfigError} when `size` is missing.
 * @example
 * const batch = await loadImages(['a.png', 'b.jpg'], { size: 64 }); // [2, 64, 64, 3]
 */
export async function loadImages(
  sources: readonly ImageSource[],
  options: LoadImageOptions & { concurrency?: number } = {},
): Promise<tf.Tensor4D> {
  const size = resolveSize(options.size);
  if (!size) throw new ConfigError(`loadImages: size is required so that every image in the batch has one shape.`);
  const n = size.height * size.width * 3;
  const out = new Float32Array(sources.length * n);
  // One draw advances the caller's stream (so the next call crops differently); each image then
  // gets its own child stream, so results don't depend on decode scheduling.
  const tag = options.rng ? options.rng.int(0, 2 ** 31) : 0;
  const rngs = sources.map((_, i) => options.rng?.split(`${tag}:${i}`));
  await mapLimit(sources, options.concurrency ?? 4, async (src, i) => {
    const d = await decodeImage(src, { ...options, rng: rngs[i] });
    bytesToUnit(d.data, out, i * n);
  });
  return tf.tensor4d(out, [sources.length, size.height, size.width, 3], 'float32');
}

/**
 * Run `fn` over `items` with at most `limit` calls in flight; rejects with the first error
 * after the calls already started have settled.
 * @internal
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>, signal?: AbortSignal): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new ConfigError(`concurrency must be a positive integer, got ${limit}.`);
  const results = new Array<R>(items.length);
  let next = 0;
  let failed: { e: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      if (signal?.aborted) return;
      const i = next++;
      try {
        results[i] = await fn(items[i], i);
      } catch (e) {
        failed ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.e;
  return results;
}
