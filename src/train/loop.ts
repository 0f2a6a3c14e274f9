/**
 * `PreferenceTrainer`: the training loop for preference losses on diffusion denoisers.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { createRng, type Rng } from '../core/random.js';
import type { Conditioning, Denoiser } from '../diffusion/denoiser.js';
import { ConfigError, PrefkitError, ShapeError } from '../errors.js';
import { parseTrainerConfig, type TrainerConfig, type TrainerConfigInput } from './config.js';
import type { DoneEvent, TrainerEvent, TrainerEventHandler } from './events.js';
import { lrFactor } from './lr-schedule.js';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { appendMetrics, truncateMetrics } from './metrics.js';
import { FlatAdamW } from './optimizer.js';
import { denoisingError, getLoss, segmentErrors } from '../losses/index.js';
import path from 'node:path';
import type { Conditioner, TrainBatch, PairBatchSource, TrainerLoss, TrainSchedule } from './types.js';

/** Everything a {@link PreferenceTrainer} is built from. */
export interface PreferenceTrainerOptions {
  /** The model being tuned; its `trainableVariables` are updated in place. */
  policy: Denoiser;
  /** Batches of preference pairs (its cursor is checkpointed). */
  data: PairBatchSource;
  /** Noise schedule: timesteps, noising and the prediction target. */
  schedule: TrainSchedule;
  /** Configuration (validated here). */
  config: TrainerConfigInput;
  /** The loss; resolved by `config.loss.name` from the losses registry when absent. */
  loss?: TrainerLoss;
  /** Frozen prompt encoder; batches are unconditional when absent. */
  conditioner?: Conditioner;
  /** An explicit frozen reference model; default: `policy.cloneFrozen()` when the loss needs one. */
  reference?: Denoiser;
  /** Evaluation hook run every `config.evalEvery` steps; its numbers become an `eval` event. */
  evaluate?: (ctx: { step: number; policy: Denoiser }) => Record<string, number> | Promise<Record<string, number>>;
}

/** Wall-clock split of the last optimizer step, ms (wasm/cpu run ops eagerly, so these are real). */
export interface StepTimings {
  /** Fetching batches, drawing timesteps and noise, noising, conditioning. */
  dataMs: number;
  /** Reference forward passes. */
  referenceMs: number;
  /** Policy forward + backward passes (the loss, a few small ops, included). */
  policyMs: number;
  /** Flattening and accumulating gradients, clipping, AdamW, metric bookkeeping. */
  optimizerMs: number;
  /** The whole step. */
  totalMs: number;
}

const zeroTimings = (): StepTimings => ({ dataMs: 0, referenceMs: 0, policyMs: 0, optimizerMs: 0, totalMs: 0 });

/** The outcome of a run. */
export interface TrainResult {
  /** Steps done (including any before a resume). */
  step: number;
  reason: DoneEvent['reason'];
  nonFiniteSteps: number;
  /** The last logged metrics. */
  metrics?: Record<string, number>;
}

/** State the checkpoint module saves and restores. */
export interface TrainerProgress {
  step: number;
  nonFiniteSteps: number;
  rng: ReturnType<Rng['getState']>;
}

function concatConditioning(a: Conditioning, b: Conditioning): Conditioning {
  const out: Conditioning = {};
  for (const k of ['tokens', 'tokenMask', 'pooled'] as const) {
    const x = a[k];
    const y = b[k];
    if (x && y) out[k] = tf.concat([x, y], 0);
    else if (x || y) throw new ConfigError(`Conditioner returned "${k}" for one side of the pair only.`);
  }
  return out;
}

function disposeBatch(batch: TrainBatch): void {
  const ts: tf.Tensor[] = [];
  for (const v of Object.values(batch)) if (v instanceof tf.Tensor) ts.push(v);
  tf.dispose(ts);
}

/**
 * Trains a diffusion denoiser on preference pairs with a loss from the registry (Diffusion-DPO by
 * default).
 *
 * Each optimizer step: for each of `gradientAccumulation` micro-batches, draw one timestep and one
 * noise per pair (shared by chosen and rejected), run chosen and rejected through the policy as one
 * `2B` batch inside `tf.variableGrads`, the frozen reference outside the tape (or take precomputed
 * reference errors from the batch), compute the loss and sum the flat gradients; then clip, and
 * apply AdamW. A step with a non-finite loss or gradient is skipped on the device (no sync); the
 * count is read at log intervals (at once on wasm/cpu, where the optimizer knows it on the host) and
 * the run stops once it reaches `maxNonFiniteSteps`.
 * @see Wallace et al., Diffusion Model Alignment Using Direct Preference Optimization (2023), Eq. 14.
 * @example
 * const trainer = new PreferenceTrainer({ policy, data, schedule, conditioner,
 *   config: { maxSteps: 200, loss: { name: 'diffusion-dpo', options: { beta: 5000 } } } });
 * for await (const ev of trainer.run()) if (ev.type === 'step' && ev.metrics) console.log(ev.metrics);
 */
export class PreferenceTrainer {
  /** The validated configuration. */
  readonly config: TrainerConfig;
  /** The model being tuned. */
  readonly policy: Denoiser;
  /** The frozen reference (absent for precomputed reference errors or reference-free losses). */
  readonly reference?: Denoiser;
  /** The data source. */
  readonly data: PairBatchSource;
  /** The optimizer. */
  readonly optimizer: FlatAdamW;
  /** Timing split of the last step. */
  lastTimings: StepTimings = zeroTimings();

  private readonly schedule: TrainSchedule;
  private readonly loss: TrainerLoss;
  private readonly lossOptions: unknown;
  private readonly conditioner?: Conditioner;
  private readonly evaluate?: PreferenceTrainerOptions['evaluate'];
  private readonly ownsReference: boolean;
  private readonly segmentFrames?: number;
  private rng: Rng;
  private stepCount = 0;
  private nonFinite = 0;
  private stopRequested = false;
  private metricNames: string[] | null = null;
  private intervalSum: tf.Tensor | null = null; // [M] sums of applied steps' metrics
  private intervalCount: tf.Tensor | null = null; // [M] steps contributing a finite value per metric
  private intervalApplied: tf.Tensor | null = null; // [] count of applied steps in the interval
  private intervalGradNorm: tf.Tensor | null = null; // [] sum of grad norms
  private intervalSteps = 0;
  private lastMetrics?: Record<string, number>;

  /**
   * @param options - policy, data, schedule, config and optional loss/conditioner/reference/hooks.
   * @throws {ConfigError} for an invalid config, bad loss options, or a loss whose needs the inputs cannot meet.
   */
  constructor(options: PreferenceTrainerOptions) {
    this.config = parseTrainerConfig(options.config);
    this.policy = options.policy;
    this.data = options.data;
    this.schedule = options.schedule;
    this.conditioner = options.conditioner;
    this.evaluate = options.evaluate;
    const loss = options.loss ?? (getLoss(this.config.loss.name) as TrainerLoss);
    this.loss = loss;
    const parsed = loss.schema.safeParse(this.config.loss.options);
    if (!parsed.success) {
      const issues = (parsed.error as { issues?: { path: PropertyKey[]; message: string }[] } | undefined)?.issues ?? [];
      const lines = issues.map((i) => `  - loss.options.${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
      throw new ConfigError(`Invalid options for loss "${loss.name}":\n${lines.join('\n')}`, { source: 'loss.options' });
    }
    this.lossOptions = parsed.data;
    const optFrames = (this.lossOptions as { segmentFrames?: unknown } | undefined)?.segmentFrames;
    this.segmentFrames = typeof optFrames === 'number' ? optFrames : this.config.segmentFrames;
    if (loss.errorKind === 'segment' && !this.segmentFrames) {
      throw new ConfigError(`Loss "${loss.name}" works per segment: set segmentFrames (frames per segment, a positive integer).`, {
        source: 'segmentFrames',
      });
    }
    if (loss.requires.reference && this.config.reference === 'frozen') {
      this.reference = options.reference ?? this.policy.cloneFrozen();
      this.ownsReference = !options.reference;
    } else {
      this.reference = options.reference;
      this.ownsReference = false;
    }
    this.rng = createRng(this.config.seed);
    this.optimizer = new FlatAdamW(this.policy.trainableVariables, this.config.optimizer);
  }

  /** Optimizer steps done so far. */
  get step(): number {
    return this.stepCount;
  }

  /** Steps skipped so far because the loss or gradient was not finite (as of the last log read). */
  get nonFiniteSteps(): number {
    return this.nonFinite;
  }

  /** Ask the run to end after the current step (it then emits `done` with reason `stopped`). */
  stop(): void {
    this.stopRequested = true;
  }

  /** The learning rate for the next step. */
  currentLr(): number {
    return this.config.optimizer.lr * lrFactor(this.stepCount, this.config.maxSteps, this.config.lrSchedule);
  }

  /** Snapshot of the loop state (step, skip count, RNG) for checkpoints. */
  getProgress(): TrainerProgress {
    return { step: this.stepCount, nonFiniteSteps: this.nonFinite, rng: this.rng.getState() };
  }

  /** Restore loop state saved by {@link PreferenceTrainer.getProgress}. */
  setProgress(p: TrainerProgress): void {
    this.stepCount = p.step;
    this.nonFinite = p.nonFiniteSteps;
    this.rng.setState(p.rng);
    this.resetInterval();
  }

  /**
   * Run one optimizer step (all its micro-batches). Makes no host sync.
   * @returns the learning rate used.
   */
  async trainStep(): Promise<number> {
    const t0 = performance.now();
    const timings = zeroTimings();
    const lr = this.currentLr();
    const accum = this.config.gradientAccumulation;
    let flat: tf.Tensor | null = null;
    let metricVec: tf.Tensor | null = null;
    for (let k = 0; k < accum; k++) {
      const d0 = performance.now();
      const batch = await this.data.next(this.config.batchSize);
      timings.dataMs += performance.now() - d0;
      try {
        const r = this.microStep(batch, accum, timings) as { flat: tf.Tensor1D; metrics: tf.Tensor1D };
        const a0 = performance.now();
        if (flat === null || metricVec === null) {
          flat = r.flat;
          metricVec = r.metrics;
        } else {
          const f2: tf.Tensor = tf.add(flat, r.flat);
          const m2: tf.Tensor = tf.add(metricVec, r.metrics);
          tf.dispose([flat, metricVec, r.flat, r.metrics]);
          flat = f2;
          metricVec = m2;
        }
        timings.optimizerMs += performance.now() - a0;
      } finally {
        disposeBatch(batch);
      }
    }
    const o0 = performance.now();
    const g = flat as tf.Tensor;
    const mv = metricVec as tf.Tensor; // [M] sums over micro-batches; index 0 is the loss
    const lossSum = tf.tidy(() => tf.slice(mv, [0], [1]).reshape([]) as tf.Scalar);
    const lossFinite = tf.tidy(() => tf.isFinite(lossSum)) as tf.Scalar;
    const info = this.optimizer.update(g, lr, { maxGradNorm: this.config.maxGradNorm, finite: lossFinite });
    tf.tidy(() => {
      const ok = tf.cast(info.applied, 'bool');
      const mean = tf.div(mv, accum);
      const prev = { sum: this.intervalSum, count: this.intervalCount, applied: this.intervalApplied, gn: this.intervalGradNorm };
      // a metric counts when the step was applied and the value is finite (e.g. DenseDPO's accuracy
      // is NaN for a batch without decisive segments)
      const use = tf.logicalAnd(ok, tf.isFinite(mean)); // [M]
      const contrib = tf.where(use, mean, tf.zerosLike(mean)); // [M]
      const count = tf.cast(use, 'float32'); // [M]
      const gn = tf.where(ok, info.gradNorm, tf.zerosLike(info.gradNorm));
      this.intervalSum = tf.keep(prev.sum ? tf.add(prev.sum, contrib) : contrib);
      this.intervalCount = tf.keep(prev.count ? tf.add(prev.count, count) : count);
      this.intervalApplied = tf.keep(prev.applied ? tf.add(prev.applied, info.applied) : info.applied.clone());
      this.intervalGradNorm = tf.keep(prev.gn ? tf.add(prev.gn, gn) : gn);
      tf.dispose(([prev.sum, prev.count, prev.applied, prev.gn] as (tf.Tensor | null)[]).filter((x): x is tf.Tensor => x !== null));
    });
    tf.dispose([g, mv, lossSum, lossFinite, info.gradNorm, info.applied]);
    this.intervalSteps++;
    this.stepCount++;
    const t1 = performance.now();
    timings.optimizerMs += t1 - o0;
    timings.totalMs = t1 - t0;
    this.lastTimings = timings;
    return lr;
  }

  /**
   * Read the interval's metrics from the device (the sync point) and start a new interval.
   * @returns means over the applied steps since the last read.
   */
  async readMetrics(lr: number): Promise<Record<string, number>> {
    const names = this.metricNames ?? ['loss'];
    const out: Record<string, number> = {};
    if (this.intervalSum && this.intervalCount && this.intervalApplied && this.intervalGradNorm) {
      // sync point: one read of every interval metric
      const [sum, count, applied, gn] = await Promise.all([
        this.intervalSum.data(),
        this.intervalCount.data(),
        this.intervalApplied.data(),
        this.intervalGradNorm.data(),
      ]);
      const n = applied[0];
      names.forEach((name, i) => (out[name] = count[i] > 0 ? sum[i] / count[i] : Number.NaN));
      out['grad_norm'] = n > 0 ? gn[0] / n : Number.NaN;
      this.nonFinite += this.intervalSteps - Math.round(n);
    }
    out['lr'] = lr;
    out['non_finite_steps'] = this.nonFinite;
    this.resetInterval();
    this.lastMetrics = out;
    return out;
  }

  /**
   * The loss and its metrics on `batches` batches from `source`, without updating anything (for
   * held-out pairs). Uses the trainer's RNG for timesteps and noise unless `seed` is given, in which
   * case the training stream is left untouched.
   * @param source - held-out pairs (default: the training source).
   * @param batches - how many batches of `batchSize` pairs.
   * @param seed - a seed for this evaluation's timesteps and noise.
   * @returns metric means over the batches (`loss`, `rewards/...`).
   */
  async evaluateLoss(source: PairBatchSource = this.data, batches = 1, seed?: number | string): Promise<Record<string, number>> {
    const saved = this.rng;
    if (seed !== undefined) this.rng = createRng(seed);
    const timings = zeroTimings();
    let sum: tf.Tensor | null = null;
    try {
      for (let i = 0; i < batches; i++) {
        const batch = await source.next(this.config.batchSize);
        try {
          const r = this.microStep(batch, 1, timings, false);
          const next: tf.Tensor = sum ? tf.add(sum, r.metrics) : r.metrics;
          if (sum) tf.dispose([sum, r.metrics]);
          sum = next;
        } finally {
          disposeBatch(batch);
        }
      }
      const vals = sum ? await sum.data() : new Float32Array(); // sync point
      const out: Record<string, number> = {};
      (this.metricNames ?? ['loss']).forEach((n, i) => (out[n] = vals[i] / batches));
      return out;
    } finally {
      if (sum) tf.dispose(sum);
      this.rng = saved;
    }
  }

  /**
   * Run the training loop from the current step to `maxSteps`, yielding events. The last event is
   * always `done`.
   * @returns the run's outcome.
   */
  async *run(): AsyncGenerator<TrainerEvent, TrainResult, void> {
    const c = this.config;
    const start = performance.now();
    const metricsFile = this.metricsFile;
    let reason: DoneEvent['reason'] = 'completed';
    let lastCheckpointStep = -1;
    this.stopRequested = false;
    while (this.stepCount < c.maxSteps) {
      if (this.stopRequested) {
        reason = 'stopped';
        break;
      }
      const lr = await this.trainStep();
      const s = this.stepCount;
      const isLast = s === c.maxSteps;
      const doCheckpoint = c.outputDir !== undefined && c.checkpointEvery > 0 && s % c.checkpointEvery === 0;
      // a skipped step known on the host (wasm/cpu write-back) is logged at once, so the guard stops exactly at N
      const doLog = s % c.logEvery === 0 || isLast || doCheckpoint || this.optimizer.lastApplied === false;
      const metrics = doLog ? await this.readMetrics(lr) : undefined;
      if (metrics && metricsFile) await appendMetrics(metricsFile, 'step', s, metrics);
      yield { type: 'step', step: s, maxSteps: c.maxSteps, lr, elapsedMs: performance.now() - start, metrics };
      if (doLog && this.nonFinite >= c.maxNonFiniteSteps) {
        reason = 'non-finite';
        break;
      }
      if (this.evaluate && c.evalEvery > 0 && (s % c.evalEvery === 0 || isLast)) {
        const m = await this.evaluate({ step: s, policy: this.policy });
        if (metricsFile) await appendMetrics(metricsFile, 'eval', s, m);
        yield { type: 'eval', step: s, metrics: m };
      }
      if (doCheckpoint) {
        const p = await this.saveCheckpoint();
        lastCheckpointStep = s;
        yield { type: 'checkpoint', step: s, path: p };
      }
    }
    if (this.intervalSteps > 0) {
      const m = await this.readMetrics(this.currentLr());
      if (metricsFile) await appendMetrics(metricsFile, 'step', this.stepCount, m);
    }
    if (c.outputDir !== undefined && lastCheckpointStep !== this.stepCount && this.stepCount > 0) {
      const p = await this.saveCheckpoint();
      yield { type: 'checkpoint', step: this.stepCount, path: p };
    }
    const done: DoneEvent = {
      type: 'done',
      step: this.stepCount,
      reason,
      nonFiniteSteps: this.nonFinite,
      elapsedMs: performance.now() - start,
      metrics: this.lastMetrics,
    };
    yield done;
    return { step: done.step, reason, nonFiniteSteps: this.nonFinite, metrics: this.lastMetrics };
  }

  /** `<outputDir>/metrics.jsonl`, or undefined without an outputDir. */
  get metricsFile(): string | undefined {
    return this.config.outputDir ? path.join(this.config.outputDir, 'metrics.jsonl') : undefined;
  }

  /**
   * Write a checkpoint now (atomically; keeps the last `keepLastCheckpoints`).
   * @param dir - the checkpoints directory (default `<outputDir>/checkpoints`).
   * @returns the checkpoint directory.
   * @throws {CheckpointError} without a directory, or when writing fails.
   */
  async saveCheckpoint(dir?: string): Promise<string> {
    return saveCheckpoint(this, dir);
  }

  /**
   * Continue from a checkpoint: weights, optimizer, step, RNG, skip count and data cursor. Metrics
   * lines written after that step (by a run that died later) are dropped from metrics.jsonl.
   * @param dir - a checkpoint directory, or a run/checkpoints directory (its newest checkpoint).
   * @returns the step resumed from.
   * @throws {CheckpointError} when the checkpoint is missing, malformed or does not fit the model.
   */
  async resume(dir: string): Promise<number> {
    const step = await loadCheckpoint(this, dir);
    if (this.metricsFile) await truncateMetrics(this.metricsFile, step);
    return step;
  }

  /**
   * Run the loop to the end, passing each event to `onEvent` (awaited).
   * @returns the run's outcome.
   */
  async train(onEvent?: TrainerEventHandler): Promise<TrainResult> {
    const it = this.run();
    for (;;) {
      const r = await it.next();
      if (r.done) return r.value;
      if (onEvent) await onEvent(r.value);
    }
  }

  /** Free the optimizer state, the interval buffers and the reference copy the trainer made. */
  dispose(): void {
    this.resetInterval();
    this.optimizer.dispose();
    if (this.ownsReference) this.reference?.dispose();
  }

  private resetInterval(): void {
    tf.dispose(([this.intervalSum, this.intervalCount, this.intervalApplied, this.intervalGradNorm] as (tf.Tensor | null)[]).filter((x): x is tf.Tensor => x !== null));
    this.intervalSum = null;
    this.intervalCount = null;
    this.intervalApplied = null;
    this.intervalGradNorm = null;
    this.intervalSteps = 0;
  }

  /** One micro-batch: returns the flat gradient (already divided by accum) and the metric vector. */
  private microStep(batch: TrainBatch, accum: number, timings: StepTimings, withGrad = true): { flat: tf.Tensor1D | null; metrics: tf.Tensor1D } {
    const p0 = performance.now();
    const B = this.config.batchSize;
    const { chosen, rejected } = batch;
    if (chosen.shape[0] !== B || rejected.shape[0] !== B || chosen.shape.join() !== rejected.shape.join()) {
      throw new ShapeError(
        `Batch has chosen [${chosen.shape.join(', ')}] and rejected [${rejected.shape.join(', ')}]; expected equal shapes with batchSize=${B} pairs first.`,
        { argument: 'batch', actual: chosen.shape },
      );
    }
    if (batch.prompts.length !== B) throw new ShapeError(`Batch has ${batch.prompts.length} prompts for ${B} pairs.`, { argument: 'prompts' });
    const loss = this.loss;
    const needsRef = loss.requires.reference;
    const dual = loss.requires.dualCaptions === true;
    const perSample = chosen.size / B;
    let ts: number[];
    let drawnNoise: Float32Array | null = null;
    if (batch.timesteps) {
      if (batch.timesteps.length !== B) throw new ShapeError(`Batch has ${batch.timesteps.length} timesteps for ${B} pairs.`, { argument: 'timesteps' });
      ts = Array.from(batch.timesteps);
    } else ts = new Array<number>(B);
    if (!batch.timesteps || !batch.noise) {
      // one timestep and one noise per pair, drawn pair by pair so any split into micro-batches
      // consumes the same stream
      if (!batch.noise) drawnNoise = new Float32Array(B * perSample);
      for (let i = 0; i < B; i++) {
        if (!batch.timesteps) {
          ts[i] = this.schedule.sampleTimesteps ? this.schedule.sampleTimesteps(this.rng, 1)[0] : this.rng.int(0, this.schedule.numTrainTimesteps);
        }
        if (drawnNoise) drawnNoise.set(this.rng.normalArray(perSample), i * perSample);
      }
    }
    const ts2 = [...ts, ...ts];
    const prep = tf.tidy(() => {
      const noise = batch.noise ?? tf.tensor(drawnNoise as Float32Array, chosen.shape); // [B, ...]
      const x0 = tf.concat([chosen, rejected], 0); // [2B, ...]
      const noise2 = tf.concat([noise, noise], 0); // [2B, ...]
      const t2 = tf.tensor1d(ts2, 'float32'); // [2B]
      const xt = this.schedule.addNoise(x0, noise2, ts2); // [2B, ...]
      const target = this.schedule.target(x0, noise2, ts2); // [2B, ...]
      let pref: tf.Tensor | undefined;
      if (batch.preference !== undefined) {
        pref = batch.preference instanceof tf.Tensor ? batch.preference.clone() : tf.tensor1d(Array.from(batch.preference));
      } else if (loss.requires.softLabels) {
        pref = tf.ones([B]);
      }
      return { xt, target, t2, pref };
    });
    let cond: Conditioning | undefined;
    const tensorsToFree: tf.Tensor[] = [prep.xt, prep.target, prep.t2];
    if (prep.pref) tensorsToFree.push(prep.pref);
    try {
      if (this.conditioner) {
        const c = this.conditioner;
        cond = tf.tidy(() => {
          let out: Conditioning;
          if (dual && batch.captionChosen && batch.captionRejected) out = concatConditioning(c(batch.captionChosen), c(batch.captionRejected));
          else {
            const one = c(batch.prompts);
            out = concatConditioning(one, one);
          }
          return out as Record<string, tf.Tensor>;
        });
        tensorsToFree.push(...Object.values(cond).filter((x): x is tf.Tensor => x instanceof tf.Tensor));
      } else if (dual) {
        throw new ConfigError(`Loss "${loss.name}" conditions each side on its own caption: pass a conditioner.`);
      }
      const errorsOf = (pred: tf.Tensor): tf.Tensor =>
        loss.errorKind === 'segment' ? segmentErrors(pred, prep.target, { segmentFrames: this.segmentFrames as number }) : denoisingError(pred, prep.target);

      // reference: outside the gradient tape
      let refChosen: tf.Tensor | undefined;
      let refRejected: tf.Tensor | undefined;
      const r0 = performance.now();
      timings.dataMs += r0 - p0;
      if (needsRef) {
        if (this.config.reference === 'precomputed' || !this.reference) {
          if (!batch.refChosenError || !batch.refRejectedError) {
            throw new ConfigError(
              `reference is "precomputed" but the batch carries no refChosenError/refRejectedError; precompute them or use reference: "frozen".`,
              { source: 'reference' },
            );
          }
          refChosen = batch.refChosenError;
          refRejected = batch.refRejectedError;
        } else {
          const ref = this.reference;
          [refChosen, refRejected] = tf.tidy(() => tf.split(errorsOf(ref.predict(prep.xt, prep.t2, cond)), 2, 0));
          tensorsToFree.push(refChosen, refRejected);
        }
      }
      const r1 = performance.now();
      timings.referenceMs += r1 - r0;

      const vars = this.policy.trainableVariables;
      /** Policy forward and loss: the loss scalar and the metric vector [M] (loss first). */
      const forward = (): { loss: tf.Scalar; vec: tf.Tensor1D } => {
        const err = errorsOf(this.policy.predict(prep.xt, prep.t2, cond)); // [2B] or [2B, F]
        const [policyChosen, policyRejected] = tf.split(err, 2, 0);
        const out = loss.compute(
          { policyChosen, policyRejected, refChosen, refRejected, preference: prep.pref, segmentLabels: batch.segmentLabels },
          this.lossOptions,
        );
        const names = Object.keys(out.metrics).sort();
        if (this.metricNames === null) this.metricNames = ['loss', ...names];
        else if (this.metricNames.length !== names.length + 1) {
          throw new PrefkitError('INTERNAL', `Loss "${loss.name}" returned a different set of metrics between steps.`);
        }
        const vec = tf.stack([out.loss, ...(this.metricNames.slice(1).map((n) => out.metrics[n]) as tf.Scalar[])].map((x) => tf.reshape(x, [])));
        return { loss: out.loss, vec: vec as tf.Tensor1D };
      };
      if (!withGrad) {
        const vec = tf.tidy(() => forward().vec);
        timings.policyMs += performance.now() - r1;
        return { flat: null, metrics: vec };
      }
      let kept: tf.Tensor1D | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const f = forward();
        kept = tf.keep(f.vec);
        return tf.div(f.loss, accum) as tf.Scalar;
      }, vars);
      const f0 = performance.now();
      timings.policyMs += f0 - r1;
      const flat = this.optimizer.flatten(grads);
      tf.dispose(grads);
      value.dispose();
      timings.optimizerMs += performance.now() - f0;
      return { flat, metrics: kept as unknown as tf.Tensor1D };
    } finally {
      tf.dispose(tensorsToFree);
    }
  }
}
