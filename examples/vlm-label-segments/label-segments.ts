/**
 * Label aligned video pairs per segment (DenseDPO-style) through any OpenAI-compatible vision
 * server: vLLM, Ollama, llama.cpp `llama-server`, or OpenAI. See README.md.
 *
 *   npx tsx examples/vlm-label-segments/label-segments.ts \
 *     --pairs pairs.jsonl --base-url http://127.0.0.1:11434/v1 --model qwen2.5vl:7b
 *
 * pairs.jsonl, one pair per line (paths relative to the file):
 *   {"prompt": "a dog runs on a beach", "first": "a.mp4", "second": "b.mp4", "fps": 8}
 * `first`/`second` (or `chosen`/`rejected`) are video files (read with ffmpeg) or folders of
 * frame images (sorted by name). `--demo` writes two tiny synthetic clips and labels those.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { labelSegments, openAIJudge, DENSE_DPO_CRITERIA } from '../../src/index.js';

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

// ---- frames: a folder of images, or a video file decoded by ffmpeg ---------------------------
const IMAGE = /\.(png|jpe?g|webp|bmp|tiff?)$/i;
async function framesOf(path: string, work: string): Promise<string[]> {
  if ((await stat(path)).isDirectory()) {
    return (await readdir(path)).filter((f) => IMAGE.test(f)).sort().map((f) => join(path, f));
  }
  const outDir = await mkdtemp(join(work, 'frames-'));
  const ffmpeg = process.env.FFMPEG_PATH ?? 'ffmpeg';
  await new Promise<void>((ok, fail) => {
    const p = spawn(ffmpeg, ['-v', 'error', '-i', path, '-vf', `fps=${fps}`, join(outDir, '%05d.png')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += String(d)));
    p.on('error', (e) => fail(new Error(`Cannot run ${ffmpeg} (set FFMPEG_PATH or install ffmpeg): ${e.message}`)));
    p.on('exit', (code) => (code === 0 ? ok() : fail(new Error(`${ffmpeg} failed on ${path} (exit ${code}): ${err.trim().slice(-500)}`))));
  });
  return (await readdir(outDir)).sort().map((f) => join(outDir, f));
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
    const [fa, fb] = [await framesOf(resolve(base, a), work), await framesOf(resolve(base, b), work)];
    const T = Math.min(fa.length, fb.length); // align on the shorter clip
    const clipFps = pair.fps ?? fps;
    const res = await labelSegments(fa.slice(0, T), fb.slice(0, T), judge, {
      segmentSeconds: Number(args['segment-seconds']),
      fps: clipFps,
      criteria,
      prompt: pair.prompt,
      concurrency: Number(args.concurrency),
    });
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
