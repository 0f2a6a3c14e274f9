/**
 * Small hand-made pieces for trainer tests: a dense denoiser implementing `Denoiser`, an in-memory
 * pair source, and a linear-beta DDPM schedule. Tiny on purpose (tests run on 2 shared cores).
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../../src/core/random.js';
import { writeSafetensors } from '../../src/core/safetensors.js';
import { PreferenceTrainer } from '../../src/train/loop.js';
import type { Conditioning, Denoiser, DenoiserConfig } from '../../src/diffusion/denoiser.js';
import type { TrainBatch, PairBatchSource, TrainSchedule } from '../../src/train/types.js';

/** out = tanh(flatten(x)·W1 + b1 + temb(t)·Wt + pooled·Wc)·W2 + b2, reshaped like x. */
export class DenseDenoiser implements Denoiser {
  readonly config: DenoiserConfig;
  private readonly vars: Record<string, tf.Variable>;
  constructor(
    readonly shape: [number, number, number],
    readonly hidden: number,
    readonly condDim: number,
    seed: number,
    trainable = true,
    init?: Record<string, tf.Tensor>,
  ) {
    this.config = { kind: 'dense-test', shape, hidden, condDim };
    const d = shape[0] * shape[1] * shape[2];
    const rng = createRng(seed);
    const mk = (name: string, s: number[], scale: number): tf.Variable => {
      const n = s.reduce((a, b) => a * b, 1);
      const init0 = init?.[name] ? init[name].clone() : tf.tensor(rng.normalArray(n).map((x) => x * scale), s);
      const v = tf.variable(init0, trainable);
      init0.dispose();
      return v;
    };
    this.vars = {
      w1: mk('w1', [d, hidden], 1 / Math.sqrt(d)),
      b1: mk('b1', [hidden], 0.1),
      wt: mk('wt', [4, hidden], 0.5),
      ...(condDim > 0 ? { wc: mk('wc', [condDim, hidden], 0.5) } : {}),
      w2: mk('w2', [hidden, d], 1 / Math.sqrt(hidden)),
      b2: mk('b2', [d], 0.1),
    };
  }
  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor {
    return tf.tidy(() => {
      const B = xt.shape[0];
      const x = tf.reshape(xt, [B, -1]);
      const f = tf.reshape(tf.div(t, 100), [B, 1]);
      const temb = tf.concat([tf.sin(f), tf.cos(f), tf.sin(tf.mul(f, 3)), tf.cos(tf.mul(f, 3))], 1); // [B, 4]
      let h = tf.add(tf.add(tf.matMul(x, this.vars.w1), this.vars.b1), tf.matMul(temb, this.vars.wt));
      if (this.vars.wc && cond?.pooled) h = tf.add(h, tf.matMul(cond.pooled, this.vars.wc));
      const out = tf.add(tf.matMul(tf.tanh(h), this.vars.w2), this.vars.b2);
      return tf.reshape(out, xt.shape);
    });
  }
  get trainableVariables(): tf.Variable[] {
    return Object.values(this.vars).filter((v) => v.trainable);
  }
  namedVariables(): Record<string, tf.Variable> {
    return { ...this.vars };
  }
  cloneFrozen(): Denoiser {
    return new DenseDenoiser(this.shape, this.hidden, this.condDim, 0, false, this.vars);
  }
  async save(dir: string): Promise<void> {
    await writeSafetensors(`${dir}/model.safetensors`, this.vars);
  }
  dispose(): void {
    tf.dispose(Object.values(this.vars));
  }
  /** All weights as one flat array, in name order. */
  flatWeights(): Float32Array {
    const parts = Object.keys(this.vars)
      .sort()
      .map((k) => this.vars[k].dataSync() as Float32Array);
    const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

/** In-memory pairs, served in order (wrapping), cursor = index; optional NaN at chosen calls. */
export class ArrayPairSource implements PairBatchSource {
  cursor = 0;
  calls = 0;
  readonly chosen: Float32Array[];
  readonly rejected: Float32Array[];
  constructor(
    readonly n: number,
    readonly shape: [number, number, number],
    seed: number,
    readonly poisonCalls: ReadonlySet<number> = new Set(),
  ) {
    const rng = createRng(seed);
    const d = shape[0] * shape[1] * shape[2];
    this.chosen = Array.from({ length: n }, () => rng.normalArray(d));
    this.rejected = Array.from({ length: n }, () => rng.normalArray(d));
  }
  next(batchSize: number): TrainBatch {
    const idx = Array.from({ length: batchSize }, (_, i) => (this.cursor + i) % this.n);
    this.cursor = (this.cursor + batchSize) % this.n;
    const d = this.chosen[0].length;
    const c = new Float32Array(batchSize * d);
    const r = new Float32Array(batchSize * d);
    idx.forEach((j, i) => {
      c.set(this.chosen[j], i * d);
      r.set(this.rejected[j], i * d);
    });
    if (this.poisonCalls.has(this.calls)) c[0] = Number.NaN;
    this.calls++;
    return {
      chosen: tf.tensor(c, [batchSize, ...this.shape]),
      rejected: tf.tensor(r, [batchSize, ...this.shape]),
      prompts: idx.map((j) => `prompt ${j}`),
    };
  }
  getState(): { cursor: number; calls: number } {
    return { cursor: this.cursor, calls: this.calls };
  }
  setState(s: { cursor: number; calls: number }): void {
    this.cursor = s.cursor;
    this.calls = s.calls;
  }
}

/** DDPM, linear betas 1e-4..0.02 over T steps, epsilon prediction. */
export function linearSchedule(T = 100): TrainSchedule {
  const acp: number[] = [];
  let p = 1;
  for (let i = 0; i < T; i++) {
    p *= 1 - (1e-4 + ((0.02 - 1e-4) * i) / (T - 1));
    acp.push(p);
  }
  const scale = (x: tf.Tensor, t: number[], f: (a: number) => number): tf.Tensor =>
    tf.mul(x, tf.tensor(t.map((ti) => f(acp[ti])), [t.length, ...x.shape.slice(1).map(() => 1)]));
  return {
    numTrainTimesteps: T,
    addNoise: (x0, noise, t) => tf.tidy(() => tf.add(scale(x0, t, Math.sqrt), scale(noise, t, (a) => Math.sqrt(1 - a)))),
    target: (_x0, noise) => noise.clone(),
  };
}

/** A pooled-vector conditioner: a fixed embedding per prompt hash. */
export function hashConditioner(dim: number) {
  return (prompts: readonly string[]): Conditioning => {
    const vals = prompts.flatMap((p) => {
      const r = createRng(p);
      return Array.from(r.normalArray(dim));
    });
    return { pooled: tf.tensor2d(vals, [prompts.length, dim]) };
  };
}

import { z } from 'zod';
import type { TrainerLoss } from '../../src/train/types.js';

/**
 * Diffusion-DPO as in the official code, written out for the trainer tests:
 * z = −0.5·β·((e_θ(w) − e_θ(l)) − (e_ref(w) − e_ref(l))), loss = mean softplus(−z).
 */
export const testDpoLoss: TrainerLoss = {
  name: 'test-dpo',
  schema: z.object({ beta: z.number().positive().default(100) }).strict(),
  requires: { reference: true },
  errorKind: 'sample',
  compute(inputs, options: { beta: number }) {
    return tf.tidy(() => {
      const { policyChosen, policyRejected, refChosen, refRejected } = inputs;
      const pd = tf.sub(policyChosen, policyRejected);
      const rd = tf.sub(refChosen as tf.Tensor, refRejected as tf.Tensor);
      const z = tf.mul(tf.sub(pd, rd), -0.5 * options.beta); // [B]
      const loss = tf.mean(tf.softplus(tf.neg(z))) as tf.Scalar;
      const rc = tf.mul(tf.sub(policyChosen, refChosen as tf.Tensor), -0.5 * options.beta);
      const rr = tf.mul(tf.sub(policyRejected, refRejected as tf.Tensor), -0.5 * options.beta);
      const acc = tf.mean(tf.add(tf.cast(tf.greater(z, 0), 'float32'), tf.mul(tf.cast(tf.equal(z, 0), 'float32'), 0.5)));
      return {
        loss,
        metrics: {
          'rewards/chosen': tf.mean(rc) as tf.Scalar,
          'rewards/rejected': tf.mean(rr) as tf.Scalar,
          'rewards/margins': tf.mean(z) as tf.Scalar,
          'rewards/accuracies': acc as tf.Scalar,
        },
      };
    });
  },
};

/** The run the resume test does three ways (straight, killed child, resumed): 10 steps, checkpoint every 5. */
export function resumeSetup(outputDir: string | undefined) {
  const shape: [number, number, number] = [2, 2, 2];
  const policy = new DenseDenoiser(shape, 6, 3, 5);
  const data = new ArrayPairSource(6, shape, 9);
  const trainer = new PreferenceTrainer({
    policy,
    data,
    schedule: linearSchedule(100),
    loss: testDpoLoss,
    conditioner: hashConditioner(3),
    config: {
      maxSteps: 10,
      batchSize: 2,
      gradientAccumulation: 2,
      loss: { name: 'test-dpo', options: { beta: 80 } },
      optimizer: { lr: 5e-3 },
      lrSchedule: { kind: 'cosine', warmupSteps: 2 },
      logEvery: 3,
      checkpointEvery: outputDir ? 5 : 0,
      keepLastCheckpoints: 1,
      seed: 'resume',
      outputDir,
    },
  });
  return { policy, data, trainer };
}
