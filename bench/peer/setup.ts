/**
 * The Diffusion-DPO peer step, built from prefkit's public pieces: `TinyUNet` configured to the
 * bench-peer spec (../shared/bench-peer/README.md), the DDPM `scaled_linear` schedule, the
 * `diffusion-dpo` loss from the registry, and `PreferenceTrainer` (flat AdamW). Shared by
 * `bench/peer.ts` and `test/core/peer-parity.test.ts`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { TinyUNet, fromTorchLayout } from '../../src/diffusion/tiny-unet.js';
import { createSchedule } from '../../src/diffusion/noising.js';
import { getLoss } from '../../src/losses/registry.js';
import { PreferenceTrainer } from '../../src/train/loop.js';
import type { PairBatchSource, TrainBatch, TrainerLoss } from '../../src/train/types.js';
import type { Rng } from '../../src/core/random.js';

/** Sizes of the peer model and step (the keys of torch_step.py's spec). */
export interface PeerSpec {
  lat_c: number;
  hw: number;
  channels: number[];
  temb: number;
  sin_dim: number;
  cond_dim: number;
  groups: number;
  /** Preference pairs per step (model batch 2B). */
  B: number;
}

/** The reference spec: 416,676 parameters, B = 4 pairs, 16×16×4 latents. */
export const FULL_SPEC: PeerSpec = { lat_c: 4, hw: 16, channels: [32, 64], temb: 128, sin_dim: 32, cond_dim: 32, groups: 8, B: 4 };

/** Hyper-parameters of the step (as torch_step.py). */
export const PEER_HPARAMS = { betaDpo: 5000, lr: 1e-5, weightDecay: 1e-2, beta1: 0.9, beta2: 0.999, eps: 1e-8 } as const;

/** TinyUNet config for a peer spec. */
export function unetConfig(s: PeerSpec) {
  return { inChannels: s.lat_c, channels: s.channels, groups: s.groups, eps: 1e-5, timeFeatures: s.sin_dim, embedDim: s.temb, pooledDim: s.cond_dim } as const;
}

/** The DDPM schedule of the peer: scaled_linear 0.00085..0.012, 1000 steps, epsilon target. */
export function peerSchedule() {
  return createSchedule({ beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, num_train_timesteps: 1000, prediction_type: 'epsilon' });
}

/**
 * A batch source with fixed latents and prompts; noise and timesteps are either fixed (parity) or
 * left to the trainer's RNG (benchmark: fresh every step, as the peer does).
 */
export class FixedPairs implements PairBatchSource {
  constructor(
    private readonly chosen: tf.Tensor, // [B, H, W, C]
    private readonly rejected: tf.Tensor, // [B, H, W, C]
    private readonly fixedNoise?: { noise: tf.Tensor; timesteps: number[] },
  ) {}
  next(B: number): TrainBatch {
    const prompts = Array.from({ length: B }, (_, i) => `pair ${i}`);
    const b: TrainBatch = { chosen: this.chosen.clone(), rejected: this.rejected.clone(), prompts };
    if (this.fixedNoise) {
      b.noise = this.fixedNoise.noise.clone();
      b.timesteps = [...this.fixedNoise.timesteps];
    }
    return b;
  }
  getState(): unknown {
    return {};
  }
  setState(): void {}
  dispose(): void {
    tf.dispose([this.chosen, this.rejected, ...(this.fixedNoise ? [this.fixedNoise.noise] : [])]);
  }
}

/** Everything one peer run owns. */
export interface PeerRig {
  trainer: PreferenceTrainer;
  policy: TinyUNet;
  reference: TinyUNet;
  data: FixedPairs;
  cond: tf.Tensor; // [B, cond_dim]
  dispose(): void;
}

/**
 * Build the trainer for `spec`. Weights: torch-layout `param.*`/`ref.*` tensors from a peer export,
 * or the PyTorch-default init from `seed` (reference = a frozen copy of the policy).
 */
export function buildPeerRig(opts: {
  spec: PeerSpec;
  x0: tf.Tensor; // [2B, H, W, C]: chosen then rejected
  cond: tf.Tensor; // [B, cond_dim]
  fixedNoise?: { noise: tf.Tensor; timesteps: number[] }; // noise [B, H, W, C]
  torchWeights?: { policy: Record<string, tf.Tensor>; reference: Record<string, tf.Tensor> };
  seed?: number;
  maxSteps?: number;
}): PeerRig {
  const { spec } = opts;
  const cfg = { ...unetConfig(spec), seed: opts.seed ?? 0 };
  let policy: TinyUNet;
  let reference: TinyUNet;
  if (opts.torchWeights) {
    const pv = fromTorchLayout(opts.torchWeights.policy);
    const rv = fromTorchLayout(opts.torchWeights.reference);
    policy = new TinyUNet(cfg, { values: pv });
    reference = new TinyUNet(cfg, { values: rv, trainable: false });
    tf.dispose([...Object.values(pv), ...Object.values(rv)]);
  } else {
    policy = new TinyUNet(cfg);
    reference = policy.cloneFrozen() as TinyUNet;
  }
  const [chosen, rejected] = tf.split(opts.x0, 2, 0);
  const data = new FixedPairs(chosen, rejected, opts.fixedNoise);
  const cond = opts.cond;
  const h = PEER_HPARAMS;
  const trainer = new PreferenceTrainer({
    policy,
    reference,
    data,
    schedule: peerSchedule(),
    loss: getLoss('diffusion-dpo') as unknown as TrainerLoss,
    conditioner: () => ({ pooled: cond.clone() }),
    config: {
      maxSteps: opts.maxSteps ?? 1_000_000,
      batchSize: spec.B,
      maxGradNorm: null,
      loss: { name: 'diffusion-dpo', options: { beta: h.betaDpo } },
      optimizer: { lr: h.lr, weightDecay: h.weightDecay, beta1: h.beta1, beta2: h.beta2, eps: h.eps },
      logEvery: 1_000_000,
    },
  });
  return {
    trainer,
    policy,
    reference,
    data,
    cond,
    dispose() {
      trainer.dispose();
      policy.dispose();
      reference.dispose();
      data.dispose();
      cond.dispose();
    },
  };
}

/**
 * Intercept the flat gradient the trainer hands to AdamW on its next steps.
 * @returns a getter for the last captured gradient by parameter name (host copies).
 */
export function captureGradients(rig: PeerRig): () => Record<string, Float32Array> {
  const opt = rig.trainer.optimizer;
  const names = new Map<tf.Variable, string>();
  for (const [n, v] of Object.entries(rig.policy.namedVariables())) names.set(v, n);
  const order = rig.policy.trainableVariables.map((v) => names.get(v) as string);
  const sizes = rig.policy.trainableVariables.map((v) => v.size);
  let last: Record<string, Float32Array> = {};
  const real = opt.update.bind(opt);
  opt.update = (flat, lr, o) => {
    const all = flat.dataSync() as Float32Array;
    last = {};
    let off = 0;
    order.forEach((n, i) => {
      last[n] = all.slice(off, off + sizes[i]);
      off += sizes[i];
    });
    return real(flat, lr, o);
  };
  return () => last;
}

/** The Rng type, re-exported for callers that draw batches. */
export type { Rng };
