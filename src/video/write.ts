/**
 * Encoding: tensors or raw frames back to mp4 (H.264), webm (VP9) or gif, and PNG contact sheets.
 * @module
 */
import { once } from 'node:events';
import { rename, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { ConfigError } from '../errors.js';
import { mediaRunError, resolveFfmpeg, spawnMedia, type MediaRunOptions } from './ffmpeg.js';
import type { RawFrame } from './frames.js';

/** Output codecs {@link writeVideo} supports. */
export type VideoCodec = 'h264' | 'vp9' | 'gif';

/** Frames to encode: `[T, H, W, 3]` in [-1, 1], a list of `[H, W, 3]` tensors, or raw RGB frames. */
export type FrameSource = tf.Tensor | readonly tf.Tensor[] | Iterable<RawFrame> | AsyncIterable<RawFrame>;

/** Options for {@link writeVideo}. */
export interface WriteVideoOptions extends MediaRunOptions {
  /** Frames per second of the output. */
  fps: number;
  /** Codec; by default from the extension: `.mp4`/`.mov`/`.m4v` → h264, `.webm` → vp9, `.gif` → gif. */
  codec?: VideoCodec;
  /** Constant rate factor (quality; lower is better). Default 18 for h264, 24 for vp9. */
  crf?: number;
  /** Explicit ffmpeg path. */
  ffmpegPath?: string;
}

const EXT_CODEC: Record<string, VideoCodec> = { '.mp4': 'h264', '.mov': 'h264', '.m4v': 'h264', '.webm': 'vp9', '.gif': 'gif' };
const CODEC_FORMAT: Record<VideoCodec, string> = { h264: 'mp4', vp9: 'webm', gif: 'gif' };

/** `[H, W, 3]` float in [-1, 1] → RGB bytes. */
async function tensorFrameBytes(t: tf.Tensor): Promise<Uint8Array> {
  const q = tf.tidy(() => t.add(1).mul(127.5).round().clipByValue(0, 255).cast('int32'));
  try {
    return Uint8Array.from(await q.data());
  } finally {
    q.dispose();
  }
}

function checkFrameTensor(t: tf.Tensor, what: string): void {
  if (t.rank !== 3 || t.shape[2] !== 3) {
    throw new ConfigError(`writeVideo: ${what} has shape [${t.shape.join(', ')}], expected [H, W, 3] (RGB in [-1, 1]).`);
  }
}

/** Normalise any {@link FrameSource} to an async stream of raw frames. */
async function* rawFrames(frames: FrameSource): AsyncGenerator<RawFrame> {
  if (frames instanceof tf.Tensor) {
    if (frames.rank !== 4 || frames.shape[3] !== 3) {
      throw new ConfigError(`writeVideo: frames tensor has shape [${frames.shape.join(', ')}], expected [T, H, W, 3] (RGB in [-1, 1]).`);
    }
    const [T, H, W] = frames.shape;
    for (let i = 0; i < T; i++) {
      const f = tf.tidy(() => frames.slice([i, 0, 0, 0], [1, H, W, 3]).reshape([H, W, 3]));
      try {
        yield { index: i, time: 0, width: W, height: H, data: await tensorFrameBytes(f) };
      } finally {
        f.dispose();
      }
    }
    return;
  }
  let i = 0;
  for await (const f of frames as AsyncIterable<RawFrame | tf.Tensor>) {
    if (f instanceof tf.Tensor) {
      checkFrameTensor(f, `frame ${i}`);
      yield { index: i, time: 0, width: f.shape[1] as number, height: f.shape[0] as number, data: await tensorFrameBytes(f) };
    } else yield f;
    i++;
  }
}

function encoderArgs(codec: VideoCodec, width: number, height: number, crf: number | undefined): string[] {
  // Even sizes for 4:2:0 chroma: pad one row/column and repeat the edge pixels into it.
  const padW = width + (width % 2);
  const padH = height + (height % 2);
  const even =
    padW !== width || padH !== height
      ? // planar RGB pinned on both sides, so the fill happens before the 4:2:0 conversion
        ['format=gbrp', `pad=${padW}:${padH}:0:0`, `fillborders=right=${padW - width}:bottom=${padH - height}:mode=smear`, 'format=gbrp']
      : [];
  switch (codec) {
    case 'h264':
      return ['-vf', [...even, 'format=yuv420p'].join(','), '-c:v', 'libx264', '-preset', 'veryfast', '-crf', String(crf ?? 18), '-pix_fmt', 'yuv420p', '-movflags', '+faststart'];
    case 'vp9':
      return ['-vf', [...even, 'format=yuv420p'].join(','), '-c:v', 'libvpx-vp9', '-b:v', '0', '-crf', String(crf ?? 24), '-deadline', 'realtime', '-cpu-used', '8', '-row-mt', '1', '-pix_fmt', 'yuv420p'];
    case 'gif':
      return ['-filter_complex', '[0:v]split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=none', '-loop', '0'];
    default: {
      const never: never = codec;
      throw new ConfigError(`writeVideo: unknown codec "${String(never)}". Expected one of: h264, vp9, gif.`);
    }
  }
}

/**
 * Encode frames to a video file: mp4 (H.264, yuv420p; odd sizes padded by one edge-repeated row or
 * column), webm (VP9) or gif. Frames are piped to ffmpeg one at a time; the file is written to a
 * temporary name and renamed when complete, so a failed run leaves nothing behind.
 * @param frames - `[T, H, W, 3]` float in [-1, 1], a list of `[H, W, 3]` tensors, or raw frames.
 * @param path - the output file; its extension picks the codec unless `codec` is given.
 * @param options - fps (required), codec, crf, timeout, signal, ffmpeg path.
 * @returns the path written.
 * @throws {ConfigError} for a bad fps, shape or an unknown extension.
 * @throws {MediaError} when ffmpeg fails (with its stderr tail), times out or is aborted.
 * @example
 * await writeVideo(video, 'out.mp4', { fps: 8 });
 */
export async function writeVideo(frames: FrameSource, path: string, options: WriteVideoOptions): Promise<string> {
  if (!(Number.isFinite(options.fps) && options.fps > 0)) throw new ConfigError(`writeVideo: fps must be a positive number, got ${options.fps}.`);
  const codec = options.codec ?? EXT_CODEC[extname(path).toLowerCase()];
  if (!codec) {
    throw new ConfigError(`writeVideo: cannot tell the codec from "${extname(path) || path}". Use .mp4, .mov, .m4v, .webm or .gif, or pass { codec: 'h264' | 'vp9' | 'gif' }.`);
  }
  const bin = await resolveFfmpeg({ path: options.ffmpegPath });
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  const it = rawFrames(frames)[Symbol.asyncIterator]();
  const first = await it.next();
  if (first.done) {
    await it.return?.(undefined);
    throw new ConfigError(`writeVideo: no frames to write to ${path}.`);
  }
  const { width, height } = first.value;
  const args = [
    '-hide_banner', '-nostdin', '-v', 'error', '-y',
    '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${width}x${height}`, '-r', String(options.fps), '-i', 'pipe:0',
    ...encoderArgs(codec, width, height, options.crf),
    '-f', CODEC_FORMAT[codec], tmp,
  ];
  const proc = spawnMedia(bin.path, args, { signal: options.signal, timeoutMs: options.timeoutMs, file: path }, 'pipe');
  const stdin = proc.child.stdin!;
  stdin.on('error', () => {
    /* EPIPE when ffmpeg dies early: reported through its exit code below */
  });
  let ok = false;
  try {
    let cur: IteratorResult<RawFrame> = first;
    let n = 0;
    while (!cur.done) {
      const f = cur.value;
      if (f.width !== width || f.height !== height || f.data.length !== width * height * 3) {
        throw new ConfigError(`writeVideo: frame ${n} is ${f.width}x${f.height} (${f.data.length} bytes), expected ${width}x${height} like frame 0.`);
      }
      if (proc.stopReason() || proc.child.exitCode !== null) break;
      if (!stdin.write(f.data)) {
        await Promise.race([once(stdin, 'drain'), proc.exited]);
      }
      n++;
      cur = await it.next();
    }
    stdin.end();
    const { code } = await proc.exited;
    if (code !== 0 || proc.stopReason()) throw mediaRunError(proc, code, `Encoding ${codec}`, path);
    await rename(tmp, path);
    ok = true;
    return path;
  } finally {
    await it.return?.(undefined);
    if (!ok) {
      stdin.destroy();
      await proc.kill();
      await unlink(tmp).catch(() => undefined);
    }
  }
}

/** Options for {@link frameStrip}. */
export interface FrameStripOptions {
  /** Frames per row when a single video is wrapped onto several rows (default: all on one row). */
  columns?: number;
  /** Pixels between tiles (default 2). */
  gap?: number;
  /** Background RGB (default white). */
  background?: [number, number, number];
  /** Also write the PNG here. */
  path?: string;
}

/**
 * A PNG contact sheet of video frames: one video on a row (wrapped at `columns`), or several videos,
 * one per row, for side-by-side comparison.
 * @param frames - `[T, H, W, 3]` in [-1, 1], or a list of such videos (same H and W), one per row.
 * @param options - columns, gap, background, output path.
 * @returns the PNG bytes.
 * @throws {ConfigError} when shapes are not `[T, H, W, 3]` or the videos differ in frame size.
 * @example
 * await frameStrip([chosen, rejected], { path: 'pair.png' });
 */
export async function frameStrip(frames: tf.Tensor | readonly tf.Tensor[], options: FrameStripOptions = {}): Promise<Buffer> {
  const videos = frames instanceof tf.Tensor ? [frames] : [...frames];
  if (videos.length === 0) throw new ConfigError('frameStrip: no videos given.');
  const [, H, W] = videos[0].shape;
  for (const [i, v] of videos.entries()) {
    if (v.rank !== 4 || v.shape[3] !== 3 || v.shape[1] !== H || v.shape[2] !== W) {
      throw new ConfigError(`frameStrip: video ${i} has shape [${v.shape.join(', ')}], expected [T, ${H}, ${W}, 3].`);
    }
  }
  const gap = options.gap ?? 2;
  const bg = options.background ?? [255, 255, 255];
  // Lay out tiles: each video starts a new row; a single video wraps at `columns`.
  const tiles: Array<{ v: number; t: number; row: number; col: number }> = [];
  let row = 0;
  let maxCols = 0;
  for (const [vi, v] of videos.entries()) {
    const T = v.shape[0];
    const cols = videos.length === 1 && options.columns ? Math.max(1, Math.floor(options.columns)) : T;
    for (let t = 0; t < T; t++) tiles.push({ v: vi, t, row: row + Math.floor(t / cols), col: t % cols });
    maxCols = Math.max(maxCols, Math.min(cols, T));
    row += Math.max(1, Math.ceil(T / cols));
  }
  const outW = maxCols * W + (maxCols - 1) * gap;
  const outH = row * H + (row - 1) * gap;
  const canvas = Buffer.alloc(outW * outH * 3);
  for (let i = 0; i < outW * outH; i++) {
    canvas[3 * i] = bg[0];
    canvas[3 * i + 1] = bg[1];
    canvas[3 * i + 2] = bg[2];
  }
  const bytes = await Promise.all(
    videos.map(async (v) => {
      const q = tf.tidy(() => v.add(1).mul(127.5).round().clipByValue(0, 255).cast('int32'));
      try {
        return await q.data();
      } finally {
        q.dispose();
      }
    }),
  );
  const per = H * W * 3;
  for (const { v, t, row: r, col: c } of tiles) {
    const src = bytes[v];
    const x0 = c * (W + gap);
    const y0 = r * (H + gap);
    for (let y = 0; y < H; y++) {
      const so = t * per + y * W * 3;
      const doff = ((y0 + y) * outW + x0) * 3;
      for (let k = 0; k < W * 3; k++) canvas[doff + k] = src[so + k];
    }
  }
  const png = await sharp(canvas, { raw: { width: outW, height: outH, channels: 3 } }).png().toBuffer();
  if (options.path) await writeFile(options.path, png);
  return png;
}

