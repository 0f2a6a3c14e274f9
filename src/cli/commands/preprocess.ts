/**
 * `prefkit preprocess`: decode video files to fixed-rate, fixed-size float32 tensors (safetensors),
 * with a JSONL index of what each file held and its DenseDPO segments.
 * @module
 */
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { basename, extname, join, relative, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { writeSafetensors } from '../../core/safetensors.js';
import { ConfigError, isMediaError } from '../../errors.js';
import { frameStrip, probeVideo, readVideo, segmentRanges, type FrameFit, type SegmentRange, type VideoInfo } from '../../video/index.js';

/** File extensions treated as videos when a directory is given. */
export const VIDEO_EXTENSIONS = ['.mp4', '.mov', '.m4v', '.mkv', '.webm', '.avi', '.gif'];

/** Options of {@link runPreprocess} (the `prefkit preprocess` flags). */
export interface PreprocessOptions {
  /** Video files or directories (searched one level deep for {@link VIDEO_EXTENSIONS}). */
  inputs: string[];
  /** Output directory. */
  out: string;
  /** Frames per second to resample to. */
  fps: number;
  /** Square output side in pixels. */
  size: number;
  fit?: FrameFit;
  /** Start time, seconds. */
  start?: number;
  /** Seconds to read. */
  duration?: number;
  /** Frames to keep at most. */
  maxFrames?: number;
  /** Segment length in seconds (default 1), for the index. */
  segmentSeconds?: number;
  /** Segment length in frames (overrides segmentSeconds). */
  segmentFrames?: number;
  /** Also write a PNG contact sheet per video. */
  strip?: boolean;
  /** Per-file decode timeout, ms. */
  timeoutMs?: number;
  /** Print nothing. */
  quiet?: boolean;
}

/** One line of the `videos.jsonl` index. */
export interface PreprocessRecord {
  /** The input path as given (resolved). */
  source: string;
  /** Output tensor file relative to the output directory (`video`: `[T, size, size, 3]` F32 in [-1, 1]). */
  tensor?: string;
  /** Output contact sheet, when `--strip`. */
  strip?: string;
  frames?: number;
  fps: number;
  size: number;
  segments?: Array<[number, number]>;
  probe?: VideoInfo;
  /** Why the file was skipped. */
  error?: string;
}

async function expandInputs(inputs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of inputs) {
    let st;
    try {
      st = await stat(p);
    } catch {
      throw new ConfigError(`prefkit preprocess: input ${p} does not exist.`, { source: 'inputs' });
    }
    if (st.isDirectory()) {
      const names = (await readdir(p)).filter((n) => VIDEO_EXTENSIONS.includes(extname(n).toLowerCase())).sort();
      out.push(...names.map((n) => join(p, n)));
    } else out.push(p);
  }
  if (out.length === 0) throw new ConfigError(`prefkit preprocess: no video files in ${inputs.join(', ')} (looked for ${VIDEO_EXTENSIONS.join(' ')}).`, { source: 'inputs' });
  return out;
}

/**
 * Decode each input video (resampled to `fps`, resized to `size`×`size`) and write
 * `<out>/<name>.safetensors` (tensor `video`, `[T, size, size, 3]` float32 in [-1, 1]), optional
 * `<name>.png` strips, and `<out>/videos.jsonl` with the probe, frame count and segments.
 * A file that fails to decode is recorded with its error and skipped.
 * @param o - see {@link PreprocessOptions}.
 * @returns the index records, in input order.
 * @throws {ConfigError} for missing inputs or bad options.
 * @example
 * await runPreprocess({ inputs: ['clips/'], out: 'data/clips', fps: 8, size: 64 });
 */
export async function runPreprocess(o: PreprocessOptions): Promise<PreprocessRecord[]> {
  if (!(o.fps > 0)) throw new ConfigError(`prefkit preprocess: --fps must be > 0, got ${o.fps}.`, { source: '--fps' });
  if (!Number.isInteger(o.size) || o.size <= 0) throw new ConfigError(`prefkit preprocess: --size must be a positive integer, got ${o.size}.`, { source: '--size' });
  const files = await expandInputs(o.inputs);
  await mkdir(o.out, { recursive: true });
  const records: PreprocessRecord[] = [];
  const used = new Set<string>();
  for (const file of files) {
    let stem = basename(file, extname(file));
    for (let k = 2; used.has(stem); k++) stem = `${basename(file, extname(file))}-${k}`;
    used.add(stem);
    const rec: PreprocessRecord = { source: resolve(file), fps: o.fps, size: o.size };
    try {
      rec.probe = await probeVideo(file, { timeoutMs: o.timeoutMs });
      const video = await readVideo(file, { fps: o.fps, size: o.size, fit: o.fit, start: o.start, duration: o.duration, maxFrames: o.maxFrames, timeoutMs: o.timeoutMs });
      try {
        const T = video.shape[0];
        const ranges: SegmentRange[] = o.segmentFrames ? segmentRanges(T, { segmentFrames: o.segmentFrames }) : segmentRanges(T, { segmentSeconds: o.segmentSeconds ?? 1, fps: o.fps });
        rec.frames = T;
        rec.segments = ranges.map((r) => [r.start, r.end]);
        const tensorFile = join(o.out, `${stem}.safetensors`);
        await writeSafetensors(tensorFile, { video }, { source: relative(o.out, rec.source), fps: String(o.fps), layout: 'THWC', range: '[-1,1]' });
        rec.tensor = relative(o.out, tensorFile);
        if (o.strip) {
          const stripFile = join(o.out, `${stem}.png`);
          await frameStrip(video, { path: stripFile, columns: Math.min(T, 8) });
          rec.strip = relative(o.out, stripFile);
        }
      } finally {
        video.dispose();
      }
      if (!o.quiet) console.log(`${file}: ${rec.frames} frames → ${rec.tensor}`);
    } catch (e) {
      if (!isMediaError(e)) throw e;
      rec.error = e.message.split('\n')[0];
      if (!o.quiet) console.error(`${file}: skipped: ${rec.error}`);
    }
    records.push(rec);
  }
  await writeFile(join(o.out, 'videos.jsonl'), records.map((r) => JSON.stringify(r)).join('\n') + '\n');
  return records;
}

const num = (name: string, integer = false) => (v: string) => {
  const n = Number(v);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`${name} must be ${integer ? 'an integer' : 'a number'}.`);
  return n;
};

/**
 * Register `prefkit preprocess` on the program.
 * @param program - the commander program.
 */
export function registerPreprocessCommand(program: Command): void {
  program
    .command('preprocess')
    .description('Decode videos to fixed-fps, fixed-size float32 tensors (safetensors) with a JSONL index and DenseDPO segments.')
    .argument('<inputs...>', 'video files or directories')
    .requiredOption('-o, --out <dir>', 'output directory')
    .option('--fps <n>', 'frames per second to resample to', num('--fps'), 8)
    .option('--size <px>', 'square output side', num('--size', true), 64)
    .addOption(new Option('--fit <mode>', 'how frames fit the square').choices(['cover', 'contain', 'fill']).default('cover'))
    .option('--start <s>', 'start time in seconds', num('--start'))
    .option('--duration <s>', 'seconds to read', num('--duration'))
    .option('--max-frames <n>', 'frames to keep at most', num('--max-frames', true))
    .option('--segment-seconds <s>', 'segment length for the index, seconds', num('--segment-seconds'), 1)
    .option('--segment-frames <n>', 'segment length in frames (overrides --segment-seconds)', num('--segment-frames', true))
    .option('--strip', 'also write a PNG contact sheet per video', false)
    .option('--timeout-ms <ms>', 'per-file decode timeout', num('--timeout-ms', true), 120_000)
    .option('-q, --quiet', 'print nothing', false)
    .action(async (inputs: string[], flags: Omit<PreprocessOptions, 'inputs'>) => {
      const recs = await runPreprocess({ ...flags, inputs });
      const failed = recs.filter((r) => r.error).length;
      if (!flags.quiet) console.log(`${recs.length - failed} of ${recs.length} videos written to ${flags.out} (index: videos.jsonl)`);
      if (failed > 0) process.exitCode = 1;
    });
}

