/**
 * Decoding: raw rgb24 frames streamed from ffmpeg's stdout, and `[T, H, W, 3]` tensors in [-1, 1].
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ConfigError, MediaError } from '../errors.js';
import { mediaRunError, resolveFfmpeg, spawnMedia, type MediaRunOptions } from './ffmpeg.js';
import { probeVideo, type VideoInfo } from './probe.js';

/** One decoded frame: packed RGB bytes, row-major, `height * width * 3` long. */
export interface RawFrame {
  /** 0-based index in the decoded sequence. */
  index: number;
  /**
   * Presentation time in seconds from the start of the file: `start + index / fps` (exact with the
   * `fps` option; for variable-rate input read without it, an estimate from the average rate).
   */
  time: number;
  width: number;
  height: number;
  /** `[height, width, 3]` RGB bytes. */
  data: Uint8Array;
}

/** How a frame is fitted to the requested size. */
export type FrameFit = 'cover' | 'contain' | 'fill';

/** Options for {@link readFrames} and {@link readVideo}. */
export interface ReadFramesOptions extends MediaRunOptions {
  /**
   * Output frame rate. Frames are resampled to a constant rate (duplicated or dropped as ffmpeg's
   * `fps` filter does), which also turns variable frame rate into constant. Omit to get every
   * decoded frame as stored.
   */
  fps?: number;
  /** Output size: a square side, or `{ width, height }`. Omit for the display size. */
  size?: number | { width: number; height: number };
  /**
   * `cover` (default): scale to cover the size, then centre-crop. `contain`: scale to fit inside
   * and pad with black. `fill`: stretch, ignoring aspect ratio.
   */
  fit?: FrameFit;
  /** Start time in seconds (default 0). */
  start?: number;
  /** Read at most this many seconds. */
  duration?: number;
  /** Read at most this many frames. */
  maxFrames?: number;
  /**
   * When true (default), anything ffmpeg reports at error level (e.g. "File ended prematurely" on a
   * truncated file) turns into a {@link MediaError} at the end of the stream, even if ffmpeg exits 0.
   */
  strict?: boolean;
  /** Explicit ffmpeg path (see {@link resolveFfmpeg}). */
  ffmpegPath?: string;
  /** Explicit ffprobe path. */
  ffprobePath?: string;
}

function positive(name: string, v: number | undefined, integer = false): void {
  if (v === undefined) return;
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ConfigError(`readFrames: option '${name}' must be a positive ${integer ? 'integer' : 'number'}, got ${v}.`);
  }
}

/** Resolve the output size and ffmpeg filter chain for the options. */
export function frameFilter(info: Pick<VideoInfo, 'width' | 'height'>, options: ReadFramesOptions): { width: number; height: number; filter: string } {
  const filters: string[] = [];
  if (options.fps !== undefined) filters.push(`fps=${options.fps}`);
  let width = info.width;
  let height = info.height;
  if (options.size !== undefined) {
    const s = typeof options.size === 'number' ? { width: options.size, height: options.size } : options.size;
    for (const [k, v] of Object.entries({ width: s.width, height: s.height })) {
      if (!Number.isInteger(v) || v <= 0) throw new ConfigError(`readFrames: size.${k} must be a positive integer, got ${v}.`);
    }
    width = s.width;
    height = s.height;
    const fit = options.fit ?? 'cover';
    switch (fit) {
      case 'fill':
        filters.push(`scale=${width}:${height}`);
        break;
      case 'cover':
        filters.push(`scale=${width}:${height}:force_original_aspect_ratio=increase`, `crop=${width}:${height}`);
        break;
      case 'contain':
        filters.push(`scale=${width}:${height}:force_original_aspect_ratio=decrease`, `pad=${width}:${height}:(ow-iw)/2:(oh-ih)/2:black`);
        break;
      default: {
        const never: never = fit;
        throw new ConfigError(`readFrames: unknown fit "${String(never)}". Expected one of: cover, contain, fill.`);
      }
    }
  }
  filters.push('setsar=1', 'format=rgb24');
  return { width, height, filter: filters.join(',') };
}

/**
 * Stream a video's frames as packed RGB bytes, one {@link RawFrame} at a time, without holding the
 * file in memory: ffmpeg writes rgb24 to a pipe and back-pressure pauses it while you process a frame.
 * Rotation metadata is applied (frames come out upright). Breaking out of the loop, a timeout or an
 * abort kills the ffmpeg child and waits for it to exit.
 * @param path - the video file.
 * @param options - fps, size and fit, start, duration, maxFrames, timeout, signal, binaries.
 * @returns an async iterator of frames `[H, W, 3]` uint8.
 * @throws {MediaError} for missing, empty, corrupt, truncated, audio-only or non-video files (with
 *   ffmpeg's stderr tail), and coded `ABORTED` on timeout or abort.
 * @throws {ConfigError} for invalid options.
 * @example
 * for await (const f of readFrames('clip.mp4', { fps: 8, size: 64 })) console.log(f.index, f.data.length);
 */
export async function* readFrames(path: string, options: ReadFramesOptions = {}): AsyncGenerator<RawFrame, void, undefined> {
  positive('fps', options.fps);
  positive('duration', options.duration);
  positive('maxFrames', options.maxFrames, true);
  positive('timeoutMs', options.timeoutMs);
  if (options.start !== undefined && !(Number.isFinite(options.start) && options.start >= 0)) {
    throw new ConfigError(`readFrames: option 'start' must be a number >= 0, got ${options.start}.`);
  }
  const t0 = Date.now();
  const info = await probeVideo(path, { ffprobePath: options.ffprobePath, signal: options.signal, timeoutMs: options.timeoutMs });
  const { width, height, filter } = frameFilter(info, options);
  const bin = await resolveFfmpeg({ path: options.ffmpegPath });
  const args = ['-hide_banner', '-nostdin', '-v', 'error'];
  if (options.start) args.push('-ss', String(options.start));
  args.push('-i', path);
  if (options.duration !== undefined) args.push('-t', String(options.duration));
  args.push('-map', '0:v:0', '-an', '-sn', '-dn', '-vf', filter);
  // Without an fps, pass frames through as stored (no duplication to a nominal rate for VFR input).
  if (options.fps === undefined) args.push('-vsync', 'passthrough');
  if (options.maxFrames !== undefined) args.push('-frames:v', String(options.maxFrames));
  args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  const remaining = options.timeoutMs !== undefined ? Math.max(1, options.timeoutMs - (Date.now() - t0)) : undefined;
  const proc = spawnMedia(bin.path, args, { signal: options.signal, timeoutMs: remaining, file: path });
  const frameBytes = width * height * 3;
  const rate = options.fps ?? info.fps;
  const start = options.start ?? 0;
  let index = 0;
  let frame = new Uint8Array(frameBytes);
  let filled = 0;
  try {
    for await (const chunk of proc.child.stdout! as AsyncIterable<Buffer>) {
      if (proc.stopReason()) break;
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(frameBytes - filled, chunk.length - off);
        frame.set(chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === frameBytes) {
          const out: RawFrame = { index, time: start + (rate > 0 ? index / rate : 0), width, height, data: frame };
          index++;
          frame = new Uint8Array(frameBytes);
          filled = 0;
          yield out;
          if (proc.stopReason()) break;
        }
      }
    }
    const { code } = await proc.exited;
    if (code !== 0 || proc.stopReason()) throw mediaRunError(proc, code, 'Decoding video', path);
    if (filled !== 0) {
      throw new MediaError(`Decoding ${path} ended inside a frame (${filled} of ${frameBytes} bytes); the file is probably truncated.`, {
        file: path,
        command: proc.command,
        exitCode: code,
        stderrTail: proc.stderr.text(),
      });
    }
    if ((options.strict ?? true) && proc.stderr.length > 0) {
      const tail = proc.stderr.text();
      throw new MediaError(
        `Decoding ${path} reported errors after ${index} frame(s); the file is probably truncated or corrupt.\n  stderr (last lines):\n    ${tail.split('\n').join('\n    ')}\n` +
          `Pass { strict: false } to accept the frames that decoded.`,
        { file: path, command: proc.command, exitCode: code, stderrTail: tail },
      );
    }
  } finally {
    // Runs on normal end, on error, and when the consumer breaks out early.
    await proc.kill();
  }
}

/**
 * A decoded frame as a float32 tensor in [-1, 1].
 * @param frame - a {@link RawFrame}.
 * @returns `[H, W, 3]` float32, `v / 127.5 - 1`.
 */
export function frameToTensor(frame: RawFrame): tf.Tensor3D {
  const f = new Float32Array(frame.data.length);
  for (let i = 0; i < f.length; i++) f[i] = frame.data[i] / 127.5 - 1;
  return tf.tensor3d(f, [frame.height, frame.width, 3], 'float32');
}

/**
 * Decode a whole clip (or the part the options select) into one tensor.
 * @param path - the video file.
 * @param options - as {@link readFrames}; set `maxFrames` or `duration` to bound memory.
 * @returns `[T, H, W, 3]` float32 in [-1, 1] (`v / 127.5 - 1`); the caller owns it.
 * @throws {MediaError} as {@link readFrames}, and when no frame was decoded (e.g. `start` past the end).
 * @example
 * const video = await readVideo('clip.mp4', { fps: 8, size: 64, maxFrames: 16 }); // [16, 64, 64, 3]
 */
export async function readVideo(path: string, options: ReadFramesOptions = {}): Promise<tf.Tensor4D> {
  const frames: Uint8Array[] = [];
  let width = 0;
  let height = 0;
  for await (const f of readFrames(path, options)) {
    frames.push(f.data);
    width = f.width;
    height = f.height;
  }
  if (frames.length === 0) {
    throw new MediaError(`No frames decoded from ${path} (start ${options.start ?? 0}s, duration ${options.duration ?? 'all'}).`, { file: path });
  }
  const per = width * height * 3;
  const out = new Float32Array(frames.length * per);
  for (let t = 0; t < frames.length; t++) {
    const src = frames[t];
    const base = t * per;
    for (let i = 0; i < per; i++) out[base + i] = src[i] / 127.5 - 1;
  }
  return tf.tensor4d(out, [frames.length, height, width, 3], 'float32');
}
