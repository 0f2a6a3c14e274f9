/**
 * GroupNorm, optionally followed by SiLU, as one op with a hand-written gradient: fewer, larger
 * kernels than autodiff through `tf.moments` + affine + `x·σ(x)` (on wasm every kernel call costs
 * 10-40 µs whatever its size, and a UNet step runs ~30 of these blocks forward and backward).
 *
 * Symbols (per sample n and group g, over the S spatial positions and the C/G channels of g):
 *   μ = mean(x), σ⁻¹ = 1/√(mean((x−μ)²) + ε), x̂ = (x−μ)·σ⁻¹, y = γ·x̂ + β, out = y·s(y) with
 *   s = sigmoid (silu) or out = y.
 * Backward, with dy = dout·(s + y·s·(1−s)) for silu:
 *   dγ = Σ_{n,s} dy·x̂, dβ = Σ_{n,s} dy, d = dy·γ,
 *   dx = σ⁻¹·(d − mean(d) − x̂·mean(d·x̂)) (means over the group's S·C/G values).
 * @see Wu & He, Group Normalization (2018), Eq. 1-2; Ramachandran et al., Searching for
 *   Activation Functions (2017) for SiLU.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../../errors.js';

/** Options of {@link fusedGroupNorm}. */
export interface FusedGroupNormOptions {
  /** Number of groups G (of C/G consecutive channels). */
  groups: number;
  /** ε added to the variance (default 1e-5). */
  eps?: number;
  /** Apply SiLU (x·σ(x)) after the affine (default: none). */
  activation?: 'silu' | 'none';
}

type Fn = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => tf.Tensor;
const cache = new Map<string, Fn>();

/**
 * Per-(sample, group) mean of `t` `[N, S, C]`, broadcast back per channel: `[N, 1, C]`.
 * (The full-size tensors are only ever combined with `[N, 1, C]` or `[C]` operands: wasm's
 * binary kernels are fast for those and ~4x slower for an inner broadcast such as
 * `[N, S, G, Cg] ⊙ [N, 1, G, 1]`.)
 */
function groupMeanPerChannel(t: tf.Tensor, groups: number): tf.Tensor {
  const [N, S, C] = t.shape as [number, number, number];
  const cg = C / groups;
  const m = tf.mean(tf.reshape(t, [N, S, groups, cg]), [1, 3], true); // [N, 1, G, 1]
  return tf.reshape(tf.mul(m, tf.ones([1, 1, 1, cg])), [N, 1, C]); // [N, 1, C] (small)
}

/** Sum of `t` `[N, S, C]` over N and S, as `[C]` (one XNNPACK matmul with a ones row). */
function channelSum(t: tf.Tensor): tf.Tensor {
  const [N, S, C] = t.shape as [number, number, number];
  return tf.reshape(tf.matMul(tf.fill([1, N * S], 1) as tf.Tensor2D, tf.reshape(t, [N * S, C]) as tf.Tensor2D), [C]);
}

function build(groups: number, eps: number, silu: boolean): Fn {
  const body = (...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = args[0] as tf.Tensor;
    const gamma = args[1] as tf.Tensor;
    const beta = args[2] as tf.Tensor;
    const save = args[3] as tf.GradSaveFunc;
    const shape = x.shape;
    const N = shape[0];
    const C = shape[shape.length - 1];
    const x3 = tf.reshape(x, [N, -1, C]); // [N, S, C]
    const xc = tf.sub(x3, groupMeanPerChannel(x3, groups)); // [N, S, C]
    const variance = groupMeanPerChannel(tf.square(xc), groups); // [N, 1, C]
    const rstd = tf.rsqrt(tf.add(variance, eps)); // [N, 1, C]
    const y = tf.add(tf.mul(xc, tf.mul(rstd, gamma)), beta); // [N, S, C]
    let out = y;
    if (silu) {
      const s = tf.sigmoid(y);
      out = tf.mul(y, s);
      save([xc, rstd, y, s]);
    } else {
      save([xc, rstd]);
    }
    return {
      value: tf.reshape(out, shape),
      gradFunc: (dOut: tf.Tensor, saved: tf.Tensor[]) => {
        const [sxc, srstd] = saved;
        let dy = tf.reshape(dOut, sxc.shape); // [N, S, C]
        if (silu) {
          const [sy, ss] = [saved[2], saved[3]];
          // d(y·s)/dy = s·(1 + y·(1 − s))
          dy = tf.mul(dy, tf.mul(ss, tf.add(tf.mul(sy, tf.sub(1, ss)), 1)));
        }
        const xhat = tf.mul(sxc, srstd); // [N, S, C]
        const dgamma = tf.reshape(channelSum(tf.mul(dy, xhat)), gamma.shape); // [C]
        const dbeta = tf.reshape(channelSum(dy), beta.shape); // [C]
        const d = tf.mul(dy, gamma); // [N, S, C]
        const m1 = groupMeanPerChannel(d, groups); // [N, 1, C]
        const m2 = groupMeanPerChannel(tf.mul(d, xhat), groups); // [N, 1, C]
        const dx = tf.mul(tf.sub(tf.sub(d, m1), tf.mul(xhat, m2)), srstd); // [N, S, C]
        return [tf.reshape(dx, shape), dgamma, dbeta];
      },
    };
  };
  return tf.customGrad(body as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as Fn;
}

/**
 * GroupNorm over channels-last `x` (`[N, ..., C]`), with per-channel affine `gamma`, `beta`, and an
 * optional SiLU, differentiable with respect to all three with a hand-written gradient.
 *
 * @param x - `[N, ..., C]` (e.g. `[N, H, W, C]`), C divisible by `groups`.
 * @param gamma - `[C]` scale.
 * @param beta - `[C]` shift.
 * @param opts - `groups`, `eps` (default 1e-5), `activation` ('silu' | 'none').
 * @returns same shape as `x`.
 * @throws {ShapeError} when C is not divisible by `groups` or gamma/beta are not `[C]`.
 * @example
 * const h = fusedGroupNorm(x, gamma, beta, { groups: 8, activation: 'silu' }); // silu(GN(x))
 */
export function fusedGroupNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, opts: FusedGroupNormOptions): tf.Tensor {
  const { groups } = opts;
  const eps = opts.eps ?? 1e-5;
  const C = x.shape[x.rank - 1];
  if (x.rank < 2 || !Number.isInteger(groups) || groups < 1 || C % groups !== 0) {
    throw new ShapeError(`Argument 'x' to fusedGroupNorm has shape [${x.shape.join(', ')}]; expected [N, ..., C] with C divisible by groups=${groups}.`, {
      argument: 'x',
      actual: x.shape,
    });
  }
  for (const [name, t] of [['gamma', gamma], ['beta', beta]] as const) {
    if (t.rank !== 1 || t.shape[0] !== C) {
      throw new ShapeError(`Argument '${name}' to fusedGroupNorm has shape [${t.shape.join(', ')}], expected [${C}].`, { argument: name, actual: t.shape, expected: [C] });
    }
  }
  const silu = opts.activation === 'silu';
  const key = `${groups}/${eps}/${silu}`;
  let f = cache.get(key);
  if (!f) {
    f = build(groups, eps, silu);
    cache.set(key, f);
  }
  return f(x, gamma, beta);
}
