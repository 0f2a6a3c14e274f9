/**
 * Label aligned video pairs per segment (DenseDPO-style) through any OpenAI-compatible vision
 * server: vLLM, Ollama, llama.cpp `llama-server`, or OpenAI. See README.md.
 *
 *   npx tsx examples/vlm-label-segments/label-segments.ts \
 *     --pairs pairs.jsonl --base-url http://127.0.0.1:11434/v1 --model qwen2.5vl:7b
 *
 * pairs.jsonl, one pair per line (paths relative to the file):
 *   {"prompt": "a dog runs on a beach", "first": "a.mp4", "second": "b.mp4", "fps": 8}
 * `first`/`second` (or `chosen`/`rejected`) are video files (read with prefkit's readVideo, which
 * runs ffmpeg, resampled to --fps) or folders of frame images (sorted by name). `--demo` writes two tiny synthetic clips and labels those.
 */
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { DENSE_DPO_CRITERIA, initEngine, labelSegments, openAIJudge, readVideo } from '../../src/index.js';

// ---- config: flags, with defaults and why ---------------------------------------------------
const { values: args } = parseArgs({
  options: {
    pairs: { type: 'string' }, // the pair manifest (JSONL)
    demo: { type: 'boolean', default: false }, // label two generated clips instead
    'base-url': { type: 'string', default: process.env.VLM_BASE_URL ?? 'http://127.0.0.1:11434/v1' }, // Ollama's default port
    model: { type: 'string', default: process.env.VLM_MODEL ?? 'qwen2.5vl:7b' },
    'api-key-env': { type: 'string' }, // name of the env var with the key; local servers need none
    'segment-seconds': { type: 'string', default: '1' }, // DenseDPO labels ~1 s segments
    fps: { type: 'string', default: '8' }, // frames per second read from video files
    'frames-per-segment': { type: 'string', default: '4' }, // frames shown to the model per segment
    'max-side': { type: 'string', default: '512' }, // most VLMs see ≤ 448-768 px per image anyway
    criteria: { type: 'string' }, // comma-separated; default visual quality, motion, prompt alignment
    concurrency: { type: 'string', default: '4' },
    'both-orders': { type: 'boolean', default: false }, // doubles requests, cancels slot bias
    'response-format': { type: 'string', default: 'json_schema' }, // 'none' for servers that reject it
    'timeout-ms': { type: 'string', default: '120000' }, // big models on CPU are slow
    out: { type: 'string' },
    cache: { type: 'string' },
  },
});
const fps = Number(args.fps);
const criteria = args.criteria ? args.criteria.split(',').map((s) => s.trim()) : [...DENSE_DPO_CRITERIA];

// ---- frames: a video file (readVideo, ffmpeg) or a folder of frame images ---------------------
const IMAGE = /\.(png|jpe?g|webp|bmp|tiff?)$/i;
type Clip = tf.Tensor4D | string[];
async function readClip(path: string, like?: Clip): Promise<Clip> {
  if ((await stat(path)).isDirectory()) {
    if (like && !Array.isArray(like)) throw new Error(`${path} is a folder but the other clip is a video file; give both as videos or both as folders.`);
    return (await readdir(path)).filter((f) => IMAGE.test(f)).sort().map((f) => join(path, f));
  }
  if (Array.isArray(like)) throw new Error(`${path} is a video file but the other clip is a folder; give both as videos or both as folders.`);
  // The second clip is read at the first one's size so the two align frame for frame.
  const size = like ? { width: like.shape[2], height: like.shape[1] } : undefined;
  return readVideo(path, { fps, ...(size ? { size, fit: 'contain' as const } : {}) }); // [T, H, W, 3] in [-1, 1]
}
function clipLength(c: Clip): number {
  return Array.isArray(c) ? c.length : c.shape[0];
}
function firstFrames(c: Clip, T: number): Clip {
  return Array.isArray(c) ? c.slice(0, T) : tf.slice(c, [0, 0, 0, 0], [T, -1, -1, -1]);
}

// ---- demo clips: a square moving smoothly vs. one that jitters ------------------------------
async function writeDemo(dirPath: string): Promise<string> {
  const T = 16;
  for (const [name, jitter] of [['smooth', 0], ['jittery', 1]] as const) {
    const d = join(dirPath, name);
    await mkdir(d, { recursive: true });
    for (let t = 0; t < T; t++) {
      const x = 4 + 3 * t + (jitter ? ((t * 7) % 5) * 4 - 8 : 0);
      const px = Buffer.alloc(64 * 64 * 3, 30);
      for (let y = 24; y < 40; y++) for (let k = Math.max(0, x); k < Math.min(64, x + 12); k++) px.fill(220, (y * 64 + k) * 3, (y * 64 + k) * 3 + 3);
      await writeFile(join(d, `${String(t).padStart(3, '0')}.png`), await sharp(px, { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer());
    }
  }
  const manifest = join(dirPath, 'pairs.jsonl');
  await writeFile(manifest, `${JSON.stringify({ prompt: 'a white square slides smoothly to the right', first: 'smooth', second: 'jittery', fps })}\n`);
  return manifest;
}

// ---- run --------------------------------------------------------------------------------------
await initEngine({ backend: 'auto' }); // tensors only carry frames here; any backend will do
const work = await mkdtemp(join(tmpdir(), 'prefkit-vlm-segments-'));
try {
  const manifest = args.demo ? await writeDemo(work) : args.pairs ? resolve(args.pairs) : undefined;
  if (!manifest) throw new Error('Give --pairs <file.jsonl> or --demo.');
  const out = resolve(args.out ?? (args.demo ? 'vlm-segment-labels.jsonl' : manifest.replace(/(\.jsonl)?$/, '.segments.jsonl')));
  const judge = openAIJudge({
    baseURL: args['base-url']!,
    model: args.model!,
    apiKeyEnv: args['api-key-env'],
    cacheFile: resolve(args.cache ?? out.replace(/(\.jsonl)?$/, '.cache.jsonl')),
    concurrency: Number(args.concurrency),
    bothOrders: args['both-orders'],
    framesPerSegment: Number(args['frames-per-segment']),
    maxSide: Number(args['max-side']),
    timeoutMs: Number(args['timeout-ms']),
    responseFormat: args['response-format'] as 'json_schema' | 'json_object' | 'none',
    onEvent: (e) => e.type === 'retry' && console.error(`  retry ${e.attempt} in ${Math.round(e.delayMs)} ms: ${e.reason}`),
  });
  const lines = (await readFile(manifest, 'utf8')).split('\n').filter((l) => l.trim());
  const results: string[] = [];
  let failed = 0;
  for (const [i, line] of lines.entries()) {
    const pair = JSON.parse(line) as { prompt?: string; first?: string; second?: string; chosen?: string; rejected?: string; fps?: number };
    const a = pair.first ?? pair.chosen;
    const b = pair.second ?? pair.rejected;
    if (!a || !b) throw new Error(`${manifest} line ${i + 1}: needs first/second (or chosen/rejected).`);
    const base = dirname(manifest);
    const ca = await readClip(resolve(base, a));
    const cb = await readClip(resolve(base, b), ca);
    const T = Math.min(clipLength(ca), clipLength(cb)); // align on the shorter clip
    const [fa, fb] = [firstFrames(ca, T), firstFrames(cb, T)];
    const clipFps = Array.isArray(ca) ? (pair.fps ?? fps) : fps; // video files were resampled to --fps
    let res;
    try {
      res = await labelSegments(fa, fb, judge, {
        segmentSeconds: Number(args['segment-seconds']),
        fps: clipFps,
        criteria,
        prompt: pair.prompt,
        concurrency: Number(args.concurrency),
      });
    } finally {
      for (const c of [ca, cb, fa, fb]) if (!Array.isArray(c) && !c.isDisposed) c.dispose();
    }
    failed += res.summary.failed;
    console.log(`pair ${i}: ${JSON.stringify(pair.prompt ?? '')} segments ${res.labels.map((l) => (l === null ? '?' : l > 0 ? '+' : l < 0 ? '-' : '=')).join('')}`);
    results.push(
      JSON.stringify({
        ...pair,
        segmentFrames: res.segments[0] ? res.segments[0].endFrame - res.segments[0].startFrame : 0,
        segments: res.labels, // DenseDPO: +1 first better, -1 second better, 0 tie, null failed
        softLabels: res.softLabels,
        rationale: res.segments.map((s) => s.rationale ?? s.error ?? ''),
      }),
    );
  }
  await writeFile(out, `${results.join('\n')}\n`);
  console.log(`wrote ${out}; ${judge.stats.requests} requests, ${judge.stats.cacheHits} cached, ${failed} segments failed`);
} finally {
  await rm(work, { recursive: true, force: true });
}
