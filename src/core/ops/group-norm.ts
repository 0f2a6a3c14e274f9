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
 * Every mean over S is one full-extent average pooling of the `[N, S, 1, C]` view (a single XNNPACK
 * kernel on wasm, vectorised over channels), then a small per-group average of the `[N, C]` result.
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
 * Per-(sample, channel) mean of `t` `[N, S, 1, C]` over the S positions: `[N, 1, 1, C]`, as one
 * average pooling over the whole extent. (On wasm that is one XNNPACK kernel vectorised over
 * channels, ~15× faster than `tf.mean` over axis 1, which transposes first and then reduces with
 * a scalar loop.)
 */
function spatialMean(t: tf.Tensor4D): tf.Tensor4D {
  return tf.avgPool(t, [t.shape[1], 1], 1, 'valid');
}

/**
 * Average a per-channel `[N, 1, 1, C]` statistic over each group's C/G channels and broadcast it
 * back per channel: `[N, 1, 1, C]` (small tensors only). Full-size tensors are only ever combined
 * with `[N, 1, 1, C]` or `[C]` operands: wasm's binary kernels are fast for those and ~4× slower
 * for an inner broadcast such as `[N, S, G, Cg] ⊙ [N, 1, G, 1]`.
 */
function groupAverage(m: tf.Tensor, groups: number): tf.Tensor4D {
  const [N, , , C] = m.shape as [number, number, number, number];
  const cg = C / groups;
  if (cg === 1) return m as tf.Tensor4D;
  const g = tf.mean(tf.reshape(m, [N, groups, cg]), 2, true); // [N, G, 1]
  return tf.reshape(tf.mul(g, tf.ones([1, 1, cg])), [N, 1, 1, C]);
}

/** Sum over the batch of a per-(sample, channel) `[N, 1, 1, C]` statistic, times `scale`: `[C]`. */
function batchSum(m: tf.Tensor, scale: number): tf.Tensor1D {
  const [N, , , C] = m.shape as [number, number, number, number];
  return tf.mul(tf.sum(tf.reshape(m, [N, C]), 0), scale) as tf.Tensor1D;
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
    const x4 = tf.reshape(x, [N, -1, 1, C]) as tf.Tensor4D; // [N, S, 1, C]
    const xc = tf.sub(x4, groupAverage(spatialMean(x4), groups)) as tf.Tensor4D; // [N, S, 1, C]
    const variance = groupAverage(spatialMean(tf.square(xc) as tf.Tensor4D), groups); // [N, 1, 1, C]
    const rstd = tf.rsqrt(tf.add(variance, eps)); // [N, 1, 1, C]
    const y = tf.add(tf.mul(xc, tf.mul(rstd, gamma)), beta); // [N, S, 1, C]
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
        const [n, S, , c] = sxc.shape as [number, number, number, number];
        let dy = tf.reshape(dOut, [n, S, 1, c]) as tf.Tensor4D; // [N, S, 1, C]
        if (silu) {
          const [sy, ss] = [saved[2], saved[3]];
          // d(y·s)/dy = s·(1 + y·(1 − s))
          dy = tf.mul(dy, tf.mul(ss, tf.add(tf.mul(sy, tf.sub(1, ss)), 1))) as tf.Tensor4D;
        }
        // per (n, c): a = mean_s dy, b = mean_s dy·x̂ = rstd · mean_s dy·xc
        const a = spatialMean(dy); // [N, 1, 1, C]
        const b = tf.mul(spatialMean(tf.mul(dy, sxc) as tf.Tensor4D), srstd); // [N, 1, 1, C]
        const dbeta = tf.reshape(batchSum(a, S), beta.shape); // Σ_{n,s} dy
        const dgamma = tf.reshape(batchSum(b, S), gamma.shape); // Σ_{n,s} dy·x̂
        // with d = dy·γ: m1 = group mean of d, m2 = group mean of d·x̂ (per-channel means → group)
        const m1 = groupAverage(tf.mul(a, gamma), groups);
        const m2 = groupAverage(tf.mul(b, gamma), groups);
        // dx = rstd·(d − m1 − x̂·m2) = dy·(rstd·γ) − xc·(rstd²·m2) − rstd·m1
        const dx = tf.sub(tf.sub(tf.mul(dy, tf.mul(srstd, gamma)), tf.mul(sxc, tf.mul(tf.square(srstd), m2))), tf.mul(srstd, m1));
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
