/**
 * DenseDPO vs video-level DPO on the moving-shapes world, at equal labelling budget.
 *
 *   npx tsx examples/video-dense-dpo/train.ts            # full run (6-9 min on 2 cores)
 *   npx tsx examples/video-dense-dpo/train.ts --quick    # smoke run (< 1 min), as the test does
 *
 * 1. Ground-truth clips from the world; each is corrupted at guidance level η with two noises and
 *    denoised by the pretrained TinyVideoUNet → two temporally aligned candidates (`makeDensePairs`).
 * 2. A programmatic judge watches each pair once: DenseDPO keeps its per-segment verdicts
 *    (`labelSegmentsWith`), video-level DPO one verdict for the whole clip. Same pairs, same frames
 *    watched: equal labelling budget.
 * 3. Each arm fine-tunes a copy of the base model with `PreferenceTrainer` (`dense-dpo` /
 *    `diffusion-dpo` losses, frozen reference).
 * 4. Base and tuned models sample the same held-out seeds; the judge's quality score and the win
 *    rate against the base are reported in <out>/report.md with sample strips.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import {
  createRng,
  createSchedule,
  DDIMScheduler,
  frameStrip,
  getLoss,
  initEngine,
  labelSegmentsWith,
  loadDenoiser,
  makeDensePairs,
  PreferenceTrainer,
  sample,
  segmentRanges,
  writeVideo,
  type Denoiser,
  type NoiseSchedule,
  type PairBatchSource,
  type Rng,
  type TrainBatch,
} from '../../src/index.js';
import { segmentQuality, shapesJudge, type SegmentQuality } from './judge.js';
import { sampleClips, WORLD } from './world.js';

const here = dirname(fileURLToPath(import.meta.url));

// ---- config: defaults and why -------------------------------------------------------------
export const DEFAULTS = {
  modelDir: resolve(here, '../../assets/video/tiny-video-unet'), // pretrained by scripts/build-video-assets.ts
  out: 'runs/video-dense-dpo',
  seed: 0,
  pairs: 48, // labelled pairs: the labelling budget (each pair watched once, all 8 frames)
  strength: 0.6, // η: enough re-generation for visible differences, little enough to keep the motion
  samplerSteps: 10, // N: DDIM steps of the full sampler; round(η·N) = 6 are re-run per candidate
  segmentFrames: 2, // S: 4 segments per 8-frame clip
  tieTolerance: 0.02, // judge score differences below this are ties
  beta: 2000, // −½β convention (losses.md); errors here are ~0.1, so margins stay O(1)
  lr: 1e-4,
  trainSteps: 60, // optimizer steps per arm
  batchSize: 4,
  third: true, // also run DenseDPO on a third of the pairs (the paper's data-efficiency claim)
  evalVideos: 32, // held-out samples per model (same seeds for every model)
  evalSteps: 10, // DDIM steps for evaluation samples
};
export const QUICK: Partial<typeof DEFAULTS> = { pairs: 6, samplerSteps: 4, trainSteps: 2, batchSize: 2, evalVideos: 4, evalSteps: 4, third: false };
export type ExampleConfig = typeof DEFAULTS;

/** One labelled pair: A and B `[T, H, W, 3]` (kept), dense labels, and the video-level label. */
interface LabelledPair {
  a: tf.Tensor;
  b: tf.Tensor;
  segments: Array<1 | -1 | 0>;
  video: 1 | -1 | 0;
}

/** In-memory pair source for the trainer: shuffles each epoch; its cursor is checkpointable. */
class PairSource implements PairBatchSource {
  private order: number[] = [];
  private cursor = 0;
  private epoch = 0;
  constructor(
    private readonly items: Array<{ chosen: tf.Tensor; rejected: tf.Tensor; labels?: number[] }>,
    private readonly seed: number,
  ) {
    this.reshuffle();
  }
  private reshuffle(): void {
    this.order = createRng(`${this.seed}:epoch:${this.epoch}`).shuffle(this.items.map((_, i) => i));
  }
  next(batchSize: number): TrainBatch {
    const pick: number[] = [];
    while (pick.length < batchSize) {
      if (this.cursor >= this.order.length) {
        this.epoch++;
        this.cursor = 0;
        this.reshuffle();
      }
      pick.push(this.order[this.cursor++]);
    }
    const it = pick.map((i) => this.items[i]);
    return {
      chosen: tf.stack(it.map((x) => x.chosen)), // [B, T, H, W, 3]
      rejected: tf.stack(it.map((x) => x.rejected)),
      prompts: it.map(() => ''),
      segmentLabels: it[0].labels ? tf.tensor2d(it.map((x) => x.labels!)) : undefined, // [B, F]
    };
  }
  getState(): unknown {
    return { cursor: this.cursor, epoch: this.epoch };
  }
  setState(s: never): void {
    const st = s as { cursor: number; epoch: number };
    this.epoch = st.epoch;
    this.cursor = st.cursor;
    this.reshuffle();
  }
}

/** Mean and standard error. */
function meanSe(xs: number[]): { mean: number; se: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / n;
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, se: sd / Math.sqrt(n) };
}

/** Samples from noise with fixed seeds (the same for every model), `[N, T, H, W, 3]`. */
function sampleEval(model: Denoiser, schedule: NoiseSchedule, cfg: ExampleConfig): tf.Tensor {
  const chunks: tf.Tensor[] = [];
  for (let i = 0; i < cfg.evalVideos; i += 8) {
    const n = Math.min(8, cfg.evalVideos - i);
    chunks.push(sample(model, { shape: [n, WORLD.frames, WORLD.size, WORLD.size, 3], steps: cfg.evalSteps, seed: `eval:${cfg.seed}:${i}`, scheduler: new DDIMScheduler(schedule) }));
  }
  const out = tf.tidy(() => tf.clipByValue(tf.concat(chunks, 0), -1, 1));
  tf.dispose(chunks);
  return out;
}

/** Guided re-generations of held-out world clips (one candidate each, η as for the pairs), `[N, T, H, W, 3]`. */
function guidedEval(model: Denoiser, schedule: NoiseSchedule, heldOut: tf.Tensor, cfg: ExampleConfig): tf.Tensor {
  const chunks: tf.Tensor[] = [];
  for (let i = 0; i < heldOut.shape[0]; i += 8) {
    const n = Math.min(8, heldOut.shape[0] - i);
    const x0 = tf.tidy(() => heldOut.slice([i, 0, 0, 0, 0], [n, -1, -1, -1, -1]));
    const { first, second } = makeDensePairs(model, new DDIMScheduler(schedule), x0, { strength: cfg.strength, steps: cfg.samplerSteps, seeds: [`g:${cfg.seed}:${i}`, `h:${cfg.seed}:${i}`] });
    chunks.push(first);
    tf.dispose([x0, second]);
  }
  const out = tf.tidy(() => tf.clipByValue(tf.concat(chunks, 0), -1, 1));
  tf.dispose(chunks);
  return out;
}

/** Per-video segment scores and whole-clip quality of eval samples. */
function scoreVideos(videos: tf.Tensor, cfg: ExampleConfig): { segment: number[]; clip: SegmentQuality[] } {
  const [N, T, H, W] = videos.shape;
  const data = videos.dataSync();
  const per = T * H * W * 3;
  const segment: number[] = [];
  const clip: SegmentQuality[] = [];
  for (let i = 0; i < N; i++) {
    const v = data.subarray(i * per, (i + 1) * per);
    const segs = segmentRanges(T, { segmentFrames: cfg.segmentFrames }).map((r) => segmentQuality(v.subarray(r.start * H * W * 3, r.end * H * W * 3), r.end - r.start, H, W).score);
    segment.push(segs.reduce((a, b) => a + b, 0) / segs.length);
    clip.push(segmentQuality(v, T, H, W));
  }
  return { segment, clip };
}

/** Fine-tune a fresh copy of the base model on one arm's pairs. */
async function trainArm(name: string, lossName: 'dense-dpo' | 'diffusion-dpo', items: ConstructorParameters<typeof PairSource>[0], schedule: NoiseSchedule, cfg: ExampleConfig, log: (s: string) => void) {
  const policy = await loadDenoiser(cfg.modelDir, { trainable: true });
  const trainer = new PreferenceTrainer({
    policy,
    data: new PairSource(items, cfg.seed),
    schedule,
    loss: getLoss(lossName),
    config: {
      loss: { name: lossName, options: { beta: cfg.beta } },
      segmentFrames: lossName === 'dense-dpo' ? cfg.segmentFrames : undefined,
      optimizer: { lr: cfg.lr },
      maxSteps: cfg.trainSteps,
      batchSize: cfg.batchSize,
      seed: cfg.seed,
      logEvery: Math.max(1, Math.min(10, cfg.trainSteps)),
      outputDir: join(cfg.out, name),
    },
  });
  const curve: Array<Record<string, number>> = [];
  const t0 = performance.now();
  const result = await trainer.train((ev) => {
    if (ev.type === 'step' && ev.metrics) {
      curve.push({ step: ev.step, ...ev.metrics });
      log(`  [${name}] step ${ev.step}/${cfg.trainSteps} loss ${ev.metrics.loss?.toFixed(4)} acc ${ev.metrics['rewards/accuracies']?.toFixed(2)} margin ${ev.metrics['rewards/margins']?.toFixed(3)}`);
    }
  });
  trainer.dispose();
  return { policy, curve, seconds: (performance.now() - t0) / 1000, result };
}

/**
 * Run the whole example and write `<out>/report.md`, `report.json` and PNG/MP4 samples.
 * @param overrides - config changes (e.g. {@link QUICK}).
 * @returns the report object.
 */
export async function runExample(overrides: Partial<ExampleConfig> = {}, log: (s: string) => void = console.log) {
  const cfg: ExampleConfig = { ...DEFAULTS, ...overrides };
  const t0 = performance.now();
  const engine = await initEngine({ backend: 'wasm' });
  await mkdir(cfg.out, { recursive: true });
  const schedule = createSchedule(JSON.parse(await readFile(join(cfg.modelDir, 'scheduler_config.json'), 'utf8')));
  const base = await loadDenoiser(cfg.modelDir, { trainable: false });
  const rng: Rng = createRng(`video-dense-dpo:${cfg.seed}`);
  const judge = shapesJudge(cfg.tieTolerance);
  const ranges = segmentRanges(WORLD.frames, { segmentFrames: cfg.segmentFrames });

  // ---- 1. dense pairs from ground-truth clips -------------------------------------------
  log(`making ${cfg.pairs} pairs (η = ${cfg.strength}, ${Math.round(cfg.strength * cfg.samplerSteps)} of ${cfg.samplerSteps} DDIM steps)`);
  const { videos: truth } = sampleClips(rng.split('truth'), cfg.pairs);
  const pairs: LabelledPair[] = [];
  for (let i = 0; i < cfg.pairs; i += 8) {
    const n = Math.min(8, cfg.pairs - i);
    const x0 = tf.tidy(() => truth.slice([i, 0, 0, 0, 0], [n, -1, -1, -1, -1]));
    const { first, second } = makeDensePairs(base, new DDIMScheduler(schedule), x0, { strength: cfg.strength, steps: cfg.samplerSteps, seeds: [`a:${cfg.seed}:${i}`, `b:${cfg.seed}:${i}`] });
    const as = tf.tidy(() => tf.unstack(tf.clipByValue(first, -1, 1)));
    const bs = tf.tidy(() => tf.unstack(tf.clipByValue(second, -1, 1)));
    tf.dispose([x0, first, second]);
    // ---- 2. labels: one viewing per pair; dense keeps segment verdicts, video-level one verdict
    for (let k = 0; k < n; k++) {
      const { labels } = await labelSegmentsWith(judge, as[k], bs[k], ranges);
      const whole = await judge.compare({ first: { kind: 'frames', tensor: as[k] }, second: { kind: 'frames', tensor: bs[k] } });
      pairs.push({ a: as[k], b: bs[k], segments: labels, video: whole.preference === 'first' ? 1 : whole.preference === 'second' ? -1 : 0 });
    }
  }
  truth.dispose();
  const decisiveSegs = pairs.reduce((a, p) => a + p.segments.filter((l) => l !== 0).length, 0);
  const mixed = pairs.filter((p) => p.segments.includes(1) && p.segments.includes(-1)).length;
  log(`labels: ${decisiveSegs}/${pairs.length * ranges.length} decisive segments, ${pairs.filter((p) => p.video !== 0).length}/${pairs.length} decisive clips, ${mixed} pairs with segments going both ways`);

  // ---- 3. training arms ----------------------------------------------------------------
  const denseItems = (ps: LabelledPair[]) => ps.filter((p) => p.segments.some((l) => l !== 0)).map((p) => ({ chosen: p.a, rejected: p.b, labels: p.segments }));
  const videoItems = pairs.filter((p) => p.video !== 0).map((p) => (p.video === 1 ? { chosen: p.a, rejected: p.b } : { chosen: p.b, rejected: p.a }));
  const arms: Array<{ name: string; loss: 'dense-dpo' | 'diffusion-dpo'; items: ConstructorParameters<typeof PairSource>[0]; pairsUsed: number; labels: string }> = [
    { name: 'dense-dpo', loss: 'dense-dpo', items: denseItems(pairs), pairsUsed: pairs.length, labels: `${ranges.length} per pair` },
    { name: 'video-dpo', loss: 'diffusion-dpo', items: videoItems, pairsUsed: pairs.length, labels: '1 per pair' },
  ];
  if (cfg.third) {
    const third = pairs.slice(0, Math.max(1, Math.round(pairs.length / 3)));
    arms.push({ name: 'dense-dpo-third', loss: 'dense-dpo', items: denseItems(third), pairsUsed: third.length, labels: `${ranges.length} per pair` });
  }
  const trained: Array<{ name: string; policy: Denoiser; curve: Array<Record<string, number>>; seconds: number; pairsUsed: number; labels: string; trainPairs: number }> = [];
  for (const arm of arms) {
    if (arm.items.length === 0) {
      log(`  [${arm.name}] no decisive labels: skipped`);
      continue;
    }
    log(`training ${arm.name} on ${arm.items.length} pairs with decisive labels`);
    const r = await trainArm(arm.name, arm.loss, arm.items, schedule, cfg, log);
    trained.push({ name: arm.name, policy: r.policy, curve: r.curve, seconds: r.seconds, pairsUsed: arm.pairsUsed, labels: arm.labels, trainPairs: arm.items.length });
  }

  // ---- 4. evaluation on held-out seeds --------------------------------------------------
  log(`evaluating ${cfg.evalVideos} samples per model (${cfg.evalSteps} DDIM steps)`);
  const baseVideos = sampleEval(base, schedule, cfg);
  const baseScores = scoreVideos(baseVideos, cfg);
  const heldOut = sampleClips(rng.split('held-out'), cfg.evalVideos).videos;
  const guidedScore = (m: Denoiser) => {
    const g = guidedEval(m, schedule, heldOut, cfg);
    const s = meanSe(scoreVideos(g, cfg).segment);
    g.dispose();
    return { guidedScore: s.mean, guidedScoreSe: s.se };
  };
  const rows: Array<Record<string, unknown>> = [];
  const summarise = (name: string, s: ReturnType<typeof scoreVideos>, extra: Record<string, unknown>) => {
    const m = (k: keyof SegmentQuality) => meanSe(s.clip.map((q) => q[k])).mean;
    const seg = meanSe(s.segment);
    rows.push({ model: name, ...extra, segmentScore: seg.mean, segmentScoreSe: seg.se, clipScore: m('score'), colourDrift: m('colourDrift'), paletteDist: m('paletteDist'), areaVar: m('areaVar'), bgNoise: m('bgNoise'), vanish: m('vanish'), accel: m('accel') });
  };
  summarise('base', baseScores, { pairs: 0, labels: '-', winRate: 0.5, winRateSe: 0, ...guidedScore(base) });
  const stripRows: tf.Tensor[] = [];
  const show = Math.min(4, cfg.evalVideos);
  const firstN = (v: tf.Tensor) => tf.tidy(() => tf.unstack(v.slice([0, 0, 0, 0, 0], [show, -1, -1, -1, -1])));
  stripRows.push(...firstN(baseVideos));
  const sideBySide: tf.Tensor[] = [tf.tidy(() => tf.concat(tf.unstack(baseVideos.slice([0, 0, 0, 0, 0], [show, -1, -1, -1, -1])), 2))]; // [T, H, show·W, 3]
  for (const arm of trained) {
    const v = sampleEval(arm.policy, schedule, cfg);
    const s = scoreVideos(v, cfg);
    // paired win rate on the same seeds: the judge on whole clips, ties count ½
    const wins: number[] = [];
    for (let i = 0; i < cfg.evalVideos; i++) {
      const d = s.clip[i].score - baseScores.clip[i].score;
      wins.push(Math.abs(d) <= cfg.tieTolerance ? 0.5 : d > 0 ? 1 : 0);
    }
    const w = meanSe(wins);
    summarise(arm.name, s, { pairs: arm.pairsUsed, labels: arm.labels, trainPairs: arm.trainPairs, winRate: w.mean, winRateSe: w.se, trainSeconds: arm.seconds, ...guidedScore(arm.policy) });
    stripRows.push(...firstN(v));
    sideBySide.push(tf.tidy(() => tf.concat(tf.unstack(v.slice([0, 0, 0, 0, 0], [show, -1, -1, -1, -1])), 2)));
    v.dispose();
  }
  const modelsShown = ['base', ...trained.map((t) => t.name)];
  await frameStrip(stripRows, { path: join(cfg.out, 'samples.png'), gap: 1 });
  // pairs the judge labelled, with their segment labels (rows: A, B)
  const pairStrip: tf.Tensor[] = [];
  for (const p of pairs.slice(0, 4)) pairStrip.push(p.a, p.b);
  await frameStrip(pairStrip, { path: join(cfg.out, 'pairs.png'), gap: 1 });
  const grid = tf.tidy(() => tf.concat(sideBySide, 1)); // [T, models·H, show·W, 3]
  await writeVideo(grid, join(cfg.out, 'samples.mp4'), { fps: 4 });
  tf.dispose([grid, ...sideBySide, ...stripRows, baseVideos, heldOut]);

  const seconds = (performance.now() - t0) / 1000;
  const report = {
    config: cfg,
    backend: engine.backend,
    seconds,
    labels: { pairs: pairs.length, segmentsPerPair: ranges.length, decisiveSegments: decisiveSegs, decisiveClips: pairs.filter((p) => p.video !== 0).length, mixedPairs: mixed, examples: pairs.slice(0, 4).map((p) => ({ segments: p.segments, video: p.video })) },
    results: rows,
    curves: Object.fromEntries(trained.map((t) => [t.name, t.curve])),
    images: { samples: 'samples.png', samplesRows: modelsShown.flatMap((m) => Array.from({ length: show }, (_, i) => `${m} #${i}`)), pairs: 'pairs.png', video: 'samples.mp4' },
  };
  await writeFile(join(cfg.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
  await writeFile(join(cfg.out, 'report.md'), renderReport(report, modelsShown, show));
  for (const p of pairs) tf.dispose([p.a, p.b]);
  for (const t of trained) t.policy.dispose();
  base.dispose();
  log(`done in ${seconds.toFixed(0)} s: ${join(cfg.out, 'report.md')}`);
  return report;
}

function renderReport(r: { config: ExampleConfig; seconds: number; backend: string; labels: Record<string, unknown>; results: Array<Record<string, unknown>> }, models: string[], show: number): string {
  const f = (x: unknown, d = 3) => (typeof x === 'number' ? x.toFixed(d) : String(x ?? ''));
  const lines = [
    '# DenseDPO vs video-level DPO on the moving-shapes world',
    '',
    `Config: ${r.labels.pairs} labelled pairs (η = ${r.config.strength}, ${r.config.samplerSteps}-step DDIM), ${r.labels.segmentsPerPair} segments of ${r.config.segmentFrames} frames per 8-frame clip, ` +
      `β = ${r.config.beta}, lr = ${r.config.lr}, ${r.config.trainSteps} steps × batch ${r.config.batchSize} per arm, ${r.config.evalVideos} held-out samples per model (${r.config.evalSteps} DDIM steps, same seeds). ` +
      `Backend ${r.backend}, ${r.seconds.toFixed(0)} s in all.`,
    '',
    `Labels: ${r.labels.decisiveSegments} of ${(r.labels.pairs as number) * (r.labels.segmentsPerPair as number)} segments decisive, ${r.labels.decisiveClips} of ${r.labels.pairs} clips decisive; ` +
      `${r.labels.mixedPairs} pairs have segments preferring A and others preferring B (information a single clip label throws away).`,
    '',
    'Scores are the judge\'s quality (higher is better; 0 is a perfect clip). "Segment score", the penalties and the win rate are on samples from pure noise (same seeds for every model); penalties are clip means; win rate = tuned vs base on the same seed, judged on whole clips, ties ½ (± standard error). "Guided score" is the mean segment score of guided re-generations (η as for the pairs) of held-out world clips: the setting the pairs come from.',
    '',
    '| model | pairs labelled | labels | trained on | segment score (± s.e.) | guided score (± s.e.) | clip score | colour drift | palette dist | area var | bg noise | vanish | accel | win rate vs base |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...r.results.map(
      (x) =>
        `| ${x.model} | ${x.pairs} | ${x.labels} | ${x.trainPairs ?? '-'} | ${f(x.segmentScore)} ± ${f(x.segmentScoreSe)} | ${f(x.guidedScore)} ± ${f(x.guidedScoreSe)} | ${f(x.clipScore)} | ${f(x.colourDrift)} | ${f(x.paletteDist)} | ${f(x.areaVar)} | ${f(x.bgNoise)} | ${f(x.vanish, 2)} | ${f(x.accel)} | ${f(x.winRate, 2)} ± ${f(x.winRateSe, 2)} |`,
    ),
    '',
    `![samples](samples.png): rows are ${models.map((m) => `${show} × ${m}`).join(', ')} (same seeds per column group). \`samples.mp4\` plays them side by side (rows: ${models.join(', ')}).`,
    '',
    '![pairs](pairs.png): the first four labelled pairs, A above B.',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      model: { type: 'string' },
      out: { type: 'string' },
      pairs: { type: 'string' },
      steps: { type: 'string' },
      seed: { type: 'string' },
      'no-third': { type: 'boolean', default: false },
    },
  });
  const o: Partial<ExampleConfig> = values.quick ? { ...QUICK } : {};
  if (values.out) o.out = values.out;
  if (values.model) o.modelDir = resolve(values.model);
  if (values.pairs) o.pairs = Number(values.pairs);
  if (values.steps) o.trainSteps = Number(values.steps);
  if (values.seed) o.seed = Number(values.seed);
  if (values['no-third']) o.third = false;
  await runExample(o);
}
