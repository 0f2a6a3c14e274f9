/**
 * `TinyVideoUNet`: the TinyUNet applied per frame (frames folded into the batch) with a temporal
 * mixing layer after every ResBlock, for video latents `[B, T, H, W, C]`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { z } from 'zod';
import { ShapeError, parseWithSchema } from '../errors.js';
import type { Conditioning, DenoiserConfig } from './denoiser.js';
import { groupNormSilu, type Params } from './nn.js';
import { ParametricDenoiser, type ParamInitOptions } from './param-denoiser.js';
import { registerDenoiserKind } from './registry.js';
import { checkUNetInputs, refineUNet, unetConfigFields, unetForward, unetSpecs } from './tiny-unet.js';

/** zod schema of {@link TinyVideoUNetConfig}: the TinyUNet fields plus `temporalKernel`. */
export const TinyVideoUNetConfigSchema = z
  .object({
    kind: z.literal('TinyVideoUNet').default('TinyVideoUNet'),
    ...unetConfigFields,
    /** Odd kernel size of the temporal 1-D convolution over frames. */
    temporalKernel: z
      .number()
      .int()
      .positive()
      .refine((k) => k % 2 === 1, { message: 'temporalKernel must be odd' })
      .default(3),
  })
  .superRefine(refineUNet)
  .transform((c) => ({ ...c, outChannels: c.outChannels ?? c.inChannels }));

/** A parsed TinyVideoUNet config. */
export type TinyVideoUNetConfig = z.output<typeof TinyVideoUNetConfigSchema> & DenoiserConfig;
/** TinyVideoUNet config as users write it. */
export type TinyVideoUNetConfigInput = Omit<z.input<typeof TinyVideoUNetConfigSchema>, 'kind'> & { kind?: 'TinyVideoUNet' };

/** Repeat each row of `x` `[B, ...]` `T` times → `[B·T, ...]` (frame-major within a sample). */
function repeatPerFrame(x: tf.Tensor, T: number): tf.Tensor {
  const B = x.shape[0];
  const rest = x.shape.slice(1);
  const m = rest.reduce((a, b) => a * b, 1);
  const y = tf.broadcastTo(tf.reshape(x, [B, 1, m]), [B, T, m]); // rank 3: tfjs has a Tile gradient for it
  return tf.reshape(y, [B * T, ...rest]);
}

/**
 * Temporal mixing after a ResBlock: h + conv_T(SiLU(GN(h))), the 1-D convolution running over
 * frames at every pixel (zero padding, 'same'), as a `[1, k]` 2-D convolution on `[B·HW, 1, T, C]`.
 */
function temporalMix(P: Params, n: string, h: tf.Tensor, B: number, T: number, groups: number, eps: number): tf.Tensor {
  const [, H, W, C] = h.shape;
  const z0 = groupNormSilu(P, `${n}.temporal.norm`, h, groups, eps); // [B*T, H, W, C]
  const z1 = tf.reshape(tf.transpose(tf.reshape(z0, [B, T, H * W, C]), [0, 2, 1, 3]), [B * H * W, 1, T, C]);
  const Wt = P[`${n}.temporal.conv.weight`];
  const k = Wt.shape[0];
  const filt = tf.reshape(Wt, [1, k, C, C]) as tf.Tensor4D;
  const z2 = tf.fused.conv2d({ x: z1 as tf.Tensor4D, filter: filt, strides: 1, pad: 'same', bias: P[`${n}.temporal.conv.bias`] }); // [B*HW, 1, T, C]
  const z3 = tf.reshape(tf.transpose(tf.reshape(z2, [B, H * W, T, C]), [0, 2, 1, 3]), [B * T, H, W, C]);
  return tf.add(h, z3);
}

/**
 * A small video denoiser for `[B, T, H, W, C]`: every frame goes through the TinyUNet (frames folded
 * into the batch, timestep and conditioning shared by a sample's frames), and after every ResBlock a
 * temporal layer `<block>.temporal` mixes each pixel's features across frames. The temporal convs
 * start at zero, so a fresh model equals the per-frame image model with the same seed.
 * @example
 * const video = new TinyVideoUNet({ inChannels: 3, channels: [16, 32], pooledDim: 8 });
 * const eps = video.predict(xt, t, { pooled }); // xt [B, T, H, W, 3], t [B], pooled [B, 8]
 */
export class TinyVideoUNet extends ParametricDenoiser<TinyVideoUNetConfig> {
  /**
   * @param config - config keys (the TinyUNet defaults plus `temporalKernel` = 3).
   * @param opts - initial `values` and `trainable`.
   * @throws {ConfigError} for an invalid config.
   */
  constructor(config: TinyVideoUNetConfigInput = {}, opts: ParamInitOptions = {}) {
    const c = parseWithSchema(TinyVideoUNetConfigSchema, { ...config, kind: 'TinyVideoUNet' }, 'TinyVideoUNet config') as TinyVideoUNetConfig;
    super(c, unetSpecs(c, { kernel: c.temporalKernel }), c.seed, opts);
  }

  /**
   * Predict the model target for video latents.
   * @param xt - `[B, T, H, W, inChannels]`.
   * @param t - timesteps `[B]` (one per video).
   * @param cond - `pooled` `[B, pooledDim]`, `tokens` `[B, L, tokenDim]`, `tokenMask` `[B, L]`.
   * @returns `[B, T, H, W, outChannels]`.
   * @throws {ShapeError} for inputs that do not fit the config.
   */
  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor {
    if (xt.rank !== 5) throw new ShapeError(`Argument 'xt' to TinyVideoUNet.predict has shape [${xt.shape.join(', ')}], expected [B, T, H, W, C].`, { argument: 'xt', actual: xt.shape });
    checkUNetInputs(this.config, xt, t, cond, 'TinyVideoUNet.predict', 2);
    const [B, T, H, W, C] = xt.shape as [number, number, number, number, number];
    const c = this.config;
    return tf.tidy(() => {
      const x4 = tf.reshape(xt, [B * T, H, W, C]);
      const tt = repeatPerFrame(tf.reshape(tf.cast(t, 'float32'), [B]), T);
      const cc: Conditioning | undefined = cond && {
        pooled: cond.pooled && repeatPerFrame(cond.pooled, T),
        tokens: cond.tokens && repeatPerFrame(cond.tokens, T),
        tokenMask: cond.tokenMask && repeatPerFrame(cond.tokenMask, T),
      };
      const P = this.store.vars;
      const out = unetForward(P, c, x4, tt, cc, (n, h) => temporalMix(P, n, h, B, T, c.groups, c.eps));
      return tf.reshape(out, [B, T, H, W, c.outChannels]);
    });
  }

  protected rebuild(opts: ParamInitOptions): TinyVideoUNet {
    return new TinyVideoUNet(this.config, opts);
  }
}

registerDenoiserKind('TinyVideoUNet', (config, weights, { trainable }) => new TinyVideoUNet(config as TinyVideoUNetConfigInput, { values: weights, trainable }));
