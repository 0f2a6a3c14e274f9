/**
 * `probeVideo`: what a video file holds, read with ffprobe.
 * @module
 */
import { stat } from 'node:fs/promises';
import { MediaError } from '../errors.js';
import { resolveFfprobe, runMedia, type MediaRunOptions } from './ffmpeg.js';

/** What {@link probeVideo} reports about a video file. */
export interface VideoInfo {
  /** Duration in seconds (container duration, else the video stream's). */
  duration: number;
  /** Average frame rate of the video stream (frames per second). */
  fps: number;
  /** True when the stream's nominal rate (`r_frame_rate`) differs from its average: variable frame rate. */
  variableFrameRate: boolean;
  /** Number of video frames (from the container, else counted from packets without decoding). */
  frameCount: number;
  /** Display width in pixels: the coded width, swapped with the height for 90/270 degree rotation. */
  width: number;
  /** Display height in pixels (see `width`). */
  height: number;
  /** Coded (stored) width before rotation. */
  codedWidth: number;
  /** Coded (stored) height before rotation. */
  codedHeight: number;
  /**
   * Clockwise rotation, in degrees (0, 90, 180 or 270), that players apply for display: the
   * convention of the legacy `rotate` tag. ffmpeg applies it when decoding, and so does {@link readFrames}.
   */
  rotation: 0 | 90 | 180 | 270;
  /** Whether the file has at least one audio stream. */
  hasAudio: boolean;
  /** Video codec name as ffprobe reports it, e.g. `h264`, `vp9`, `gif`. */
  codec: string;
  /** Container format names, e.g. `mov,mp4,m4a,3gp,3g2,mj2`. */
  format: string;
}

/** Options for {@link probeVideo}. */
export interface ProbeOptions extends MediaRunOptions {
  /** Explicit ffprobe path (see {@link resolveFfprobe}). */
  ffprobePath?: string;
}

interface FfprobeStream {
  codec_type?: string;
  codec_name?: string;
  width?: number;
  height?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  tags?: Record<string, string>;
  side_data_list?: Array<{ side_data_type?: string; rotation?: number }>;
  disposition?: Record<string, number>;
}

function parseRate(r: string | undefined): number {
  if (!r) return 0;
  const [n, d] = r.split('/').map(Number);
  if (!Number.isFinite(n)) return 0;
  if (d === undefined) return n;
  return d > 0 ? n / d : 0;
}

/** Clockwise display rotation from a stream's display matrix (ffprobe reports it counter-clockwise) or `rotate` tag. */
function streamRotation(s: FfprobeStream): 0 | 90 | 180 | 270 {
  let deg = 0;
  const sd = s.side_data_list?.find((d) => typeof d.rotation === 'number');
  if (sd) deg = -(sd.rotation as number);
  else if (s.tags?.rotate !== undefined) deg = Number(s.tags.rotate) || 0;
  const r = (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
  return r as 0 | 90 | 180 | 270;
}

/**
 * Read a video file's duration, frame rate, frame count, display size, rotation, audio presence and codec.
 * @param path - the video file.
 * @param options - explicit ffprobe path, timeout (default 30 s), abort signal.
 * @returns a {@link VideoInfo}.
 * @throws {MediaError} when the file is missing, empty, not a media file, or has no video stream
 *   (e.g. audio only); the message carries ffprobe's stderr tail.
 * @example
 * const info = await probeVideo('clip.mp4'); // { fps: 30, frameCount: 90, width: 640, ... }
 */
export async function probeVideo(path: string, options: ProbeOptions = {}): Promise<VideoInfo> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new MediaError(`Cannot read video ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}.`, {
      file: path,
      cause: e,
    });
  }
  const bin = await resolveFfprobe({ path: options.ffprobePath });
  const baseArgs = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  let json: { streams?: FfprobeStream[]; format?: { duration?: string; format_name?: string } };
  const run = async (extra: string[]) => {
    const out = await runMedia(bin.path, [...baseArgs, ...extra, '-i', path], {
      timeoutMs: options.timeoutMs ?? 30_000,
      signal: options.signal,
      file: path,
      what: size === 0 ? 'Probing an empty (0-byte) file' : 'Probing video',
    });
    try {
      return JSON.parse(out.toString('utf8'));
    } catch (e) {
      throw new MediaError(`ffprobe returned unreadable JSON for ${path}.`, { file: path, code: 'MEDIA_TOOL_FAILED', cause: e });
    }
  };
  json = await run([]);
  const streams = json.streams ?? [];
  const pickVideo = () =>
    (json.streams ?? []).find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic);
  let video = pickVideo();
  if (!video) {
    const kinds = streams.map((s) => s.codec_type ?? 'unknown');
    throw new MediaError(
      `No video stream in ${path}: found ${kinds.length ? kinds.join(', ') : 'no streams'} (format ${json.format?.format_name ?? 'unknown'}). ` +
        `Expected a file with a video track (mp4, webm, mov, mkv, gif, ...).`,
      { file: path },
    );
  }
  let frameCount = Number(video.nb_frames);
  if (!Number.isFinite(frameCount) || frameCount <= 0) {
    // No frame count in the container (webm, mkv): count packets, which demuxes without decoding.
    json = await run(['-count_packets', '-select_streams', 'V:0']);
    video = pickVideo() ?? (json.streams ?? [])[0] ?? video;
    frameCount = Number(video.nb_read_packets);
    if (!Number.isFinite(frameCount)) frameCount = 0;
  }
  const fps = parseRate(video.avg_frame_rate) || parseRate(video.r_frame_rate);
  const nominal = parseRate(video.r_frame_rate);
  const duration = Number(json.format?.duration) || Number(video.duration) || (fps > 0 ? frameCount / fps : 0);
  const rotation = streamRotation(video);
  const codedWidth = video.width ?? 0;
  const codedHeight = video.height ?? 0;
  const swap = rotation === 90 || rotation === 270;
  if (!(codedWidth > 0 && codedHeight > 0)) {
    throw new MediaError(`Video stream in ${path} has no frame size (got ${codedWidth}x${codedHeight}); the file is probably corrupt.`, { file: path });
  }
  return {
    duration,
    fps,
    variableFrameRate: nominal > 0 && fps > 0 && Math.abs(nominal - fps) > 1e-3 * nominal,
    frameCount,
    width: swap ? codedHeight : codedWidth,
    height: swap ? codedWidth : codedHeight,
    codedWidth,
    codedHeight,
    rotation,
    hasAudio: streams.some((s) => s.codec_type === 'audio'),
    codec: video.codec_name ?? 'unknown',
    format: json.format?.format_name ?? 'unknown',
  };
}
