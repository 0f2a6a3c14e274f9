/**
 * Turn {@link JudgeMedia} into JPEG data URLs for a VLM, and a content hash for the cache.
 * Images are resized by sharp so the longer side is at most `maxSide`; a run of video frames
 * is sampled evenly and tiled into a strip or grid (or sent as separate images).
 * @module
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { MediaError, ShapeError } from '../errors.js';
import type { JudgeMedia } from './types.js';

/** How frames of a segment are laid out for the model. */
export type FrameLayout = 'grid' | 'strip' | 'separate';

/** Encoding options. */
export interface EncodeOptions {
  /** Longest side of each image sent, in pixels (never enlarged). Default 512. */
  maxSide?: number;
  /** JPEG quality 1-100. Default 85. */
  quality?: number;
  /** Frames sampled from a segment. Default 4. */
  framesPerSegment?: number;
  /** Layout of sampled frames. Default `'grid'`. */
  frameLayout?: FrameLayout;
}

/** Media ready to send. */
export interface EncodedMedia {
  /** sha256 (hex) of the source bytes that were used and the encoding options. */
  hash: string;
  /** One data URL, or one per frame for `frameLayout: 'separate'`. */
  dataUrls: string[];
  /** Source frame indices sampled, for frames. */
  frameIndices?: number[];
}

interface RawImage {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * Evenly spaced indices into `0..total-1`, including both ends when `n >= 2`.
 * @param total - number of frames available.
 * @param n - number wanted; capped at `total`.
 * @returns ascending distinct indices.
 */
export function sampleFrameIndices(total: number, n: number): number[] {
  const k = Math.max(1, Math.min(total, Math.floor(n)));
  if (k === 1) return [Math.floor((total - 1) / 2)];
  const out: number[] = [];
  for (let i = 0; i < k; i++) out.push(Math.round((i * (total - 1)) / (k - 1)));
  return out;
}

function floatToRgb8(src: Float32Array | Int32Array | Uint8Array, offset: number, count: number): Buffer {
  const out = Buffer.allocUnsafe(count);
  for (let i = 0; i < count; i++) {
    const v = Math.round((src[offset + i]! + 1) * 127.5);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

async function fileBytes(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (e) {
    throw new MediaError(`Cannot read image file ${path}: ${(e as Error).message}.`, { file: path });
  }
}

async function decodeToRaw(bytes: Uint8Array, what: string, size?: { width: number; height: number }): Promise<RawImage> {
  try {
    let img = sharp(bytes).rotate().removeAlpha().toColourspace('srgb');
    if (size) img = img.resize(size.width, size.height, { fit: 'contain', background: { r: 0, g: 0, b: 0 } });
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (e) {
    throw new MediaError(`Cannot decode image ${what}: ${(e as Error).message}. Accepted: any format sharp reads (JPEG, PNG, WebP, ...).`, {
      file: what,
    });
  }
}

async function rawToJpegDataUrl(img: RawImage, maxSide: number, quality: number): Promise<string> {
  const buf = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality })
    .toBuffer();
  return `data:image/jpeg;base64,${buf.toString('base64')}`;
}

function tile(frames: RawImage[], cols: number): RawImage {
  const { width: w, height: h } = frames[0]!;
  const rows = Math.ceil(frames.length / cols);
  const W = w * cols;
  const H = h * rows;
  const data = Buffer.alloc(W * H * 3);
  frames.forEach((f, k) => {
    const x0 = (k % cols) * w;
    const y0 = Math.floor(k / cols) * h;
    for (let y = 0; y < h; y++) {
      f.data.copy(data, ((y0 + y) * W + x0) * 3, y * w * 3, (y + 1) * w * 3);
    }
  });
  return { data, width: W, height: H };
}

function tensorDims(shape: readonly number[], rank: 3 | 4, name: string): number[] {
  const ok = shape.length === rank && shape[shape.length - 1] === 3 && shape.every((d) => d > 0);
  if (!ok) {
    throw new ShapeError(
      `Argument '${name}' to encodeMedia has shape [${shape.join(', ')}], expected ${rank === 3 ? '[H, W, 3]' : '[T, H, W, 3]'} (float in [-1, 1]).`,
      { argument: name, actual: [...shape], expected: rank === 3 ? [null, null, 3] : [null, null, null, 3] },
    );
  }
  return [...shape];
}

/**
 * Encode one piece of media as JPEG data URL(s) and hash its source content.
 * @param media - an image (path, bytes, or tensor `[H, W, 3]` in [-1, 1]) or frames
 *   (tensor `[T, H, W, 3]` in [-1, 1], or frame image paths).
 * @param options - see {@link EncodeOptions}.
 * @returns the data URLs and the content hash.
 * @throws {MediaError} when a file cannot be read or decoded, or the media has no content.
 * @throws {ShapeError} when a tensor is not `[H, W, 3]` / `[T, H, W, 3]`.
 */
export async function encodeMedia(media: JudgeMedia, options: EncodeOptions = {}): Promise<EncodedMedia> {
  const maxSide = options.maxSide ?? 512;
  const quality = options.quality ?? 85;
  const perSeg = options.framesPerSegment ?? 4;
  const layout = options.frameLayout ?? 'grid';
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ kind: media.kind, maxSide, quality, perSeg, layout }));

  if (media.kind === 'image') {
    let raw: RawImage;
    if (media.tensor) {
      const [h, w] = tensorDims(media.tensor.shape, 3, 'image.tensor');
      const values = await media.tensor.data();
      hash.update(`tensor:${h}x${w}:${media.tensor.dtype}`);
      hash.update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      raw = { data: floatToRgb8(values as Float32Array, 0, h! * w! * 3), width: w!, height: h! };
    } else {
      const bytes = media.bytes ?? (media.path !== undefined ? await fileBytes(media.path) : undefined);
      if (!bytes) throw new MediaError('Image media has no path, bytes or tensor; give one of them.');
      hash.update('bytes:');
      hash.update(bytes);
      raw = await decodeToRaw(bytes, media.path ?? '(bytes)');
    }
    return { hash: hash.digest('hex'), dataUrls: [await rawToJpegDataUrl(raw, maxSide, quality)] };
  }

  if (media.kind === 'frames') {
    let frames: RawImage[];
    let indices: number[];
    if (media.tensor) {
      const [t, h, w] = tensorDims(media.tensor.shape, 4, 'frames.tensor');
      indices = sampleFrameIndices(t!, perSeg);
      const values = (await media.tensor.data()) as Float32Array;
      const n = h! * w! * 3;
      hash.update(`tensor:${t}x${h}x${w}:${media.tensor.dtype}:${indices.join(',')}`);
      frames = indices.map((i) => {
        hash.update(new Uint8Array(values.buffer, values.byteOffset + i * n * values.BYTES_PER_ELEMENT, n * values.BYTES_PER_ELEMENT));
        return { data: floatToRgb8(values, i * n, n), width: w!, height: h! };
      });
    } else if (media.paths && media.paths.length > 0) {
      indices = sampleFrameIndices(media.paths.length, perSeg);
      hash.update(`paths:${media.paths.length}:${indices.join(',')}`);
      frames = [];
      for (const i of indices) {
        const bytes = await fileBytes(media.paths[i]!);
        hash.update(bytes);
        const size = frames[0] ? { width: frames[0].width, height: frames[0].height } : undefined;
        frames.push(await decodeToRaw(bytes, media.paths[i]!, size));
      }
    } else {
      throw new MediaError('Frames media has no tensor and no paths; give a [T, H, W, 3] tensor or frame image paths.');
    }
    const digest = hash.digest('hex');
    if (layout === 'separate') {
      const urls = await Promise.all(frames.map((f) => rawToJpegDataUrl(f, maxSide, quality)));
      return { hash: digest, dataUrls: urls, frameIndices: indices };
    }
    const cols = layout === 'strip' ? frames.length : Math.ceil(Math.sqrt(frames.length));
    return { hash: digest, dataUrls: [await rawToJpegDataUrl(tile(frames, cols), maxSide, quality)], frameIndices: indices };
  }
  const never: never = media;
  throw new MediaError(`Unknown media kind ${JSON.stringify((never as { kind: unknown }).kind)}; expected 'image' or 'frames'.`);
}
