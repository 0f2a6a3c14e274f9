/**
 * `TinyUNet`: a small conditional UNet denoiser (NHWC) — the project's reference model.
 *
 * Default config = the bench-peer reference spec (channels (32, 64), one ResBlock per level,
 * pooled conditioning dim 32, no attention, 416,676 parameters), with parameter names equal to
 * the PyTorch peer's `state_dict` keys. Layout mapping to PyTorch: conv weight tfjs
 * `[kh, kw, Cin, Cout]` = torch `[Cout, Cin, kh, kw]` permuted (2, 3, 1, 0); linear weight tfjs
 * `[in, out]` = torch `[out, in]` transposed; biases and GroupNorm affine are identical.
 * See {@link toTorchLayout}.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ShapeError, parseWithSchema } from '../errors.js';
import type { Conditioning, DenoiserConfig } from './denoiser.js';
import { conv2d, crossAttention, dense, groupNormSilu, ParamSpecBuilder, silu, timestepFeatures, upsample2x, type ParamSpec, type Params } from './nn.js';
import { ParametricDenoiser, type ParamInitOptions } from './param-denoiser.js';
import { registerDenoiserKind } from './registry.js';

const posInt = z.number().int().positive();

/** Fields shared by the image and video UNet configs. */
export const unetConfigFields = {
  /** Input channels (latent channels). */
  inChannels: posInt.default(4),
  /** Output channels; default = inChannels. */
  outChannels: posInt.optional(),
  /** Channels per resolution level; the depth is its length. */
  channels: z.array(posInt).min(1).default([32, 64]),
  /** ResBlocks per level on the way down (and up). */
  blocksPerLevel: posInt.default(1),
  /** ResBlocks at the bottom. */
  midBlocks: z.number().int().min(0).default(1),
  /** GroupNorm groups (of consecutive channels). */
  groups: posInt.default(8),
  /** GroupNorm epsilon. */
  eps: z.number().positive().default(1e-5),
  /** Sinusoidal timestep features (even). */
  timeFeatures: posInt.default(32),
  /** Width of the time/conditioning embedding. */
  embedDim: posInt.default(128),
  /** Pooled conditioning vector size (0 = none). Added to the time embedding through `cond_proj`. */
  pooledDim: z.number().int().min(0).default(32),
  /** Token embedding size for cross-attention (0 = no cross-attention). */
  tokenDim: z.number().int().min(0).default(0),
  /** Levels (0 = full resolution) with cross-attention after each ResBlock. */
  attentionLevels: z.array(z.number().int().min(0)).default([]),
  /** Cross-attention after each mid block. */
  midAttention: z.boolean().default(false),
  /** Attention heads. */
  heads: posInt.default(4),
  /** Seed of the PyTorch-default parameter initialisation. */
  seed: z.union([z.number(), z.string()]).default(0),
};

type UNetFields = z.output<z.ZodObject<typeof unetConfigFields>>;

/** Cross-field checks shared by both UNets. */
export function refineUNet(c: UNetFields, ctx: z.RefinementCtx): void {
  c.channels.forEach((ch, i) => {
    if (ch % c.groups !== 0) ctx.addIssue({ code: 'custom', path: ['channels', i], message: `${ch} channels are not divisible by groups=${c.groups}` });
  });
  if (c.timeFeatures % 2 !== 0) ctx.addIssue({ code: 'custom', path: ['timeFeatures'], message: `must be even, got ${c.timeFeatures}` });
  const attn = c.attentionLevels.length > 0 || c.midAttention;
  if (attn && c.tokenDim === 0) ctx.addIssue({ code: 'custom', path: ['tokenDim'], message: 'cross-attention (attentionLevels/midAttention) needs tokenDim > 0' });
  for (const l of c.attentionLevels) {
    if (l >= c.channels.length) ctx.addIssue({ code: 'custom', path: ['attentionLevels'], message: `level ${l} does not exist (depth ${c.channels.length})` });
    else if (c.channels[l] % c.heads !== 0) ctx.addIssue({ code: 'custom', path: ['heads'], message: `${c.channels[l]} channels at level ${l} are not divisible by heads=${c.heads}` });
  }
  if (c.midAttention && c.channels[c.channels.length - 1] % c.heads !== 0) {
    ctx.addIssue({ code: 'custom', path: ['heads'], message: `mid channels are not divisible by heads=${c.heads}` });
  }
}

/** zod schema of {@link TinyUNetConfig}; defaults = the reference spec. */
export const TinyUNetConfigSchema = z
  .object({ kind: z.literal('TinyUNet').default('TinyUNet'), ...unetConfigFields })
  .superRefine(refineUNet)
  .transform((c) => ({ ...c, outChannels: c.outChannels ?? c.inChannels }));

/** A parsed TinyUNet config. */
export type TinyUNetConfig = z.output<typeof TinyUNetConfigSchema> & DenoiserConfig;
/** TinyUNet config as users write it (all keys optional). */
export type TinyUNetConfigInput = Omit<z.input<typeof TinyUNetConfigSchema>, 'kind'> & { kind?: 'TinyUNet' };

/** The UNet's named pieces, computed once per config. */
export interface UNetPlan {
  levels: { down: string[]; downsample?: string; up: string[]; upsample?: string; attn: boolean }[];
  mid: string[];
}

/** Names of the UNet's blocks (they reduce to the reference names for two levels of one block). */
export function unetPlan(c: UNetFields): UNetPlan {
  const L = c.channels.length;
  const bn = (prefix: string, i: number, j: number) => (c.blocksPerLevel === 1 ? `${prefix}${i}` : `${prefix}${i}_${j}`);
  const levels = c.channels.map((_, i) => ({
    down: Array.from({ length: c.blocksPerLevel }, (_, j) => bn('down', i, j)),
    up: Array.from({ length: c.blocksPerLevel }, (_, j) => bn('up', i, j)),
    downsample: i > 0 ? (L === 2 ? 'downsample' : `downsample${i}`) : undefined,
    upsample: i > 0 ? (L === 2 ? 'upsample_conv' : `upsample_conv${i}`) : undefined,
    attn: c.attentionLevels.includes(i),
  }));
  const mid = Array.from({ length: c.midBlocks }, (_, j) => (c.midBlocks === 1 ? 'mid' : `mid${j}`));
  return { levels, mid };
}

/**
 * Parameter specs in PyTorch registration order. `temporal` adds, after every ResBlock, a
 * temporal mixing layer `<block>.temporal.{norm,conv}` (zero-initialised conv, so the video
 * model starts as the per-frame image model).
 */
export function unetSpecs(c: UNetFields & { outChannels: number }, temporal?: { kernel: number }): ParamSpec[] {
  const b = new ParamSpecBuilder();
  const plan = unetPlan(c);
  const E = c.embedDim;
  const resBlock = (n: string, i: number, o: number) => {
    b.norm(`${n}.norm1`, i);
    b.conv(`${n}.conv1`, i, o, 3);
    b.linear(`${n}.emb`, E, o);
    b.norm(`${n}.norm2`, o);
    b.conv(`${n}.conv2`, o, o, 3);
    if (i !== o) b.conv(`${n}.skip`, i, o, 1);
    if (temporal) {
      b.norm(`${n}.temporal.norm`, o);
      b.conv1d(`${n}.temporal.conv`, o, o, temporal.kernel, 'zeros');
    }
  };
  const attn = (n: string, ch: number) => {
    b.norm(`${n}.norm`, ch);
    b.linear(`${n}.to_q`, ch, ch, false);
    b.linear(`${n}.to_k`, c.tokenDim, ch, false);
    b.linear(`${n}.to_v`, c.tokenDim, ch, false);
    b.linear(`${n}.to_out`, ch, ch);
  };
  b.linear('time_mlp1', c.timeFeatures, E);
  b.linear('time_mlp2', E, E);
  if (c.pooledDim > 0) b.linear('cond_proj', c.pooledDim, E);
  const ch = c.channels;
  b.conv('conv_in', c.inChannels, ch[0], 3);
  let cur = ch[0];
  plan.levels.forEach((lv, i) => {
    if (lv.downsample) b.conv(lv.downsample, cur, cur, 3);
    for (const n of lv.down) {
      resBlock(n, cur, ch[i]);
      cur = ch[i];
      if (lv.attn) attn(`${n}_attn`, cur);
    }
  });
  for (const n of plan.mid) {
    resBlock(n, cur, cur);
    if (c.midAttention) attn(`${n}_attn`, cur);
  }
  for (let i = ch.length - 1; i >= 0; i--) {
    const lv = plan.levels[i];
    lv.up.forEach((n, j) => {
      resBlock(n, j === 0 ? cur + ch[i] : ch[i], ch[i]);
      cur = ch[i];
      if (lv.attn) attn(`${n}_attn`, cur);
    });
    if (lv.upsample) b.conv(lv.upsample, cur, cur, 3);
  }
  b.norm('norm_out', cur);
  b.conv('conv_out', cur, c.outChannels, 3);
  return b.specs;
}

/** Hook applied after every ResBlock (the video UNet's temporal mixing). */
export type BlockHook = (name: string, h: tf.Tensor) => tf.Tensor;

/**
 * The UNet forward pass on `[N, H, W, C]`.
 * @internal
 */
export function unetForward(P: Params, c: UNetFields, x: tf.Tensor, t: tf.Tensor, cond: Conditioning | undefined, hook?: BlockHook): tf.Tensor {
  const plan = unetPlan(c);
  const N = x.shape[0];
  const G = c.groups;
  const eps = c.eps;
  let emb = dense(P, 'time_mlp2', silu(dense(P, 'time_mlp1', timestepFeatures(t, c.timeFeatures)))); // [N, E]
  if (c.pooledDim > 0) emb = tf.add(emb, dense(P, 'cond_proj', cond?.pooled ?? tf.zeros([N, c.pooledDim]))); // [N, E]
  const e = silu(emb); // [N, E]
  const resBlock = (n: string, h: tf.Tensor) => {
    let y: tf.Tensor = conv2d(P, `${n}.conv1`, groupNormSilu(P, `${n}.norm1`, h, G, eps)); // [N, H, W, Co]
    const eb = dense(P, `${n}.emb`, e); // [N, Co]
    y = tf.add(y, tf.reshape(eb, [N, 1, 1, eb.shape[1]!]));
    y = conv2d(P, `${n}.conv2`, groupNormSilu(P, `${n}.norm2`, y, G, eps));
    const skip = P[`${n}.skip.weight`] ? conv2d(P, `${n}.skip`, h) : h;
    const out = tf.add(skip, y);
    return hook ? hook(n, out) : out;
  };
  const attn = (n: string, h: tf.Tensor) => crossAttention(P, `${n}_attn`, h, cond!.tokens!, cond!.tokenMask, c.heads, G, eps);
  let h: tf.Tensor = conv2d(P, 'conv_in', x); // [N, H, W, c0]
  const skips: tf.Tensor[] = [];
  plan.levels.forEach((lv) => {
    if (lv.downsample) h = conv2d(P, lv.downsample, h, 2); // [N, H/2, W/2, C]
    for (const n of lv.down) {
      h = resBlock(n, h);
      if (lv.attn) h = attn(n, h);
    }
    skips.push(h);
  });
  for (const n of plan.mid) {
    h = resBlock(n, h);
    if (c.midAttention) h = attn(n, h);
  }
  for (let i = plan.levels.length - 1; i >= 0; i--) {
    const lv = plan.levels[i];
    lv.up.forEach((n, j) => {
      h = resBlock(n, j === 0 ? tf.concat([h, skips[i]], 3) : h); // concat on channels, h first
      if (lv.attn) h = attn(n, h);
    });
    if (lv.upsample) h = conv2d(P, lv.upsample, upsample2x(h)); // [N, 2H, 2W, C]
  }
  return conv2d(P, 'conv_out', groupNormSilu(P, 'norm_out', h, G, eps)); // [N, H, W, out]
}

/** Check predict() inputs of an image UNet. @internal */
export function checkUNetInputs(c: UNetFields, xt: tf.Tensor, t: tf.Tensor, cond: Conditioning | undefined, fn: string, spatialAxis: number): void {
  const N = xt.shape[0];
  const C = xt.shape[xt.rank - 1];
  const H = xt.shape[spatialAxis];
  const W = xt.shape[spatialAxis + 1];
  const f = 2 ** (c.channels.length - 1);
  if (C !== c.inChannels || H % f !== 0 || W % f !== 0) {
    throw new ShapeError(`Argument 'xt' to ${fn} has shape [${xt.shape.join(', ')}]; expected ${c.inChannels} channels last and H, W divisible by ${f}.`, {
      argument: 'xt',
      actual: xt.shape,
    });
  }
  if (t.size !== N) throw new ShapeError(`Argument 't' to ${fn} has shape [${t.shape.join(', ')}], expected [${N}].`, { argument: 't', actual: t.shape, expected: [N] });
  if (cond?.pooled && (c.pooledDim === 0 || cond.pooled.shape[0] !== N || cond.pooled.shape[1] !== c.pooledDim)) {
    throw new ShapeError(`Argument 'cond.pooled' to ${fn} has shape [${cond.pooled.shape.join(', ')}], expected [${N}, ${c.pooledDim}]${c.pooledDim === 0 ? ' (this model takes no pooled conditioning: pooledDim is 0)' : ''}.`, {
      argument: 'cond.pooled',
      actual: cond.pooled.shape,
      expected: [N, c.pooledDim],
    });
  }
  const needsTokens = c.attentionLevels.length > 0 || c.midAttention;
  if (needsTokens) {
    const tk = cond?.tokens;
    if (!tk || tk.rank !== 3 || tk.shape[0] !== N || tk.shape[2] !== c.tokenDim) {
      throw new ShapeError(`Argument 'cond.tokens' to ${fn} has shape [${tk ? tk.shape.join(', ') : 'missing'}], expected [${N}, L, ${c.tokenDim}] (this model cross-attends to tokens).`, {
        argument: 'cond.tokens',
        actual: tk?.shape,
      });
    }
  }
}

/**
 * A small conditional UNet denoiser for `[B, H, W, C]` inputs: GroupNorm + SiLU ResBlocks,
 * sinusoidal timestep embedding, conditioning by a pooled vector (through the time embedding)
 * and/or cross-attention over tokens at chosen levels. Variables are created once, from
 * `config.seed` with PyTorch's default initialisation.
 *
 * Forward (two levels, the reference): `conv_in → down0 → downsample(stride 2, pad 1) → down1 →
 * mid → up1(concat[m, h1]) → nearest 2× + upsample_conv → up0(concat[m, h0]) → norm_out → SiLU →
 * conv_out`; each ResBlock is `conv1(SiLU(GN(x))) + emb(SiLU(e)) → conv2(SiLU(GN(h))) + skip(x)`.
 * @example
 * const model = new TinyUNet();             // the 416,676-parameter reference model
 * const eps = model.predict(xt, t, { pooled }); // xt [B, 16, 16, 4], t [B], pooled [B, 32]
 */
export class TinyUNet extends ParametricDenoiser<TinyUNetConfig> {
  /**
   * @param config - config keys (defaults: the reference spec).
   * @param opts - initial `values` by name and `trainable`.
   * @throws {ConfigError} for an invalid config.
   */
  constructor(config: TinyUNetConfigInput = {}, opts: ParamInitOptions = {}) {
    const c = parseWithSchema(TinyUNetConfigSchema, { ...config, kind: 'TinyUNet' }, 'TinyUNet config') as TinyUNetConfig;
    super(c, unetSpecs(c), c.seed, opts);
  }

  /**
   * Predict the model target for `xt`.
   * @param xt - `[B, H, W, inChannels]`, H and W divisible by 2^(depth−1).
   * @param t - timesteps `[B]`.
   * @param cond - `pooled` `[B, pooledDim]` (zeros when absent) and/or `tokens` `[B, L, tokenDim]`
   *   with optional `tokenMask` `[B, L]`.
   * @returns `[B, H, W, outChannels]`.
   * @throws {ShapeError} for inputs that do not fit the config.
   */
  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor {
    if (xt.rank !== 4) throw new ShapeError(`Argument 'xt' to TinyUNet.predict has rank ${xt.rank} (shape [${xt.shape.join(', ')}]), expected [B, H, W, C].`, { argument: 'xt', actual: xt.shape });
    checkUNetInputs(this.config, xt, t, cond, 'TinyUNet.predict', 1);
    return tf.tidy(() => unetForward(this.store.vars, this.config, xt, t, cond));
  }

  protected rebuild(opts: ParamInitOptions): TinyUNet {
    return new TinyUNet(this.config, opts);
  }
}

registerDenoiserKind('TinyUNet', (config, weights, { trainable }) => new TinyUNet(config as TinyUNetConfigInput, { values: weights, trainable }));

/** Axis permutation from tfjs to PyTorch layout by rank (conv2d, conv1d, dense). */
function torchPerm(rank: number): number[] | null {
  return rank === 4 ? [3, 2, 0, 1] : rank === 3 ? [2, 1, 0] : rank === 2 ? [1, 0] : null;
}

/**
 * Convert tfjs-layout weights to PyTorch layout: conv `[kh, kw, Cin, Cout]` → `[Cout, Cin, kh, kw]`,
 * 1-D conv `[k, Cin, Cout]` → `[Cout, Cin, k]`, dense `[in, out]` → `[out, in]`; 1-D tensors copied.
 * Names are already PyTorch `state_dict` keys.
 * @param named - name → tensor (e.g. `model.namedVariables()`).
 * @returns name → new tensor in PyTorch layout (the caller disposes them).
 */
export function toTorchLayout(named: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(named)) {
    const perm = torchPerm(v.rank);
    out[name] = perm ? tf.transpose(v, perm) : v.clone();
  }
  return out;
}

/**
 * The inverse of {@link toTorchLayout}: PyTorch-layout tensors (e.g. from a `.safetensors` a PyTorch
 * model saved) to tfjs layout, ready for `new TinyUNet(config, { values })`.
 * @param named - name → tensor in PyTorch layout.
 * @returns name → new tensor in tfjs layout (the caller disposes them).
 */
export function fromTorchLayout(named: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const inv: Record<number, number[]> = { 4: [2, 3, 1, 0], 3: [2, 1, 0], 2: [1, 0] };
  const out: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(named)) out[name] = inv[v.rank] ? tf.transpose(v, inv[v.rank]) : v.clone();
  return out;
}
