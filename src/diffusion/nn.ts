/**
 * Parameter stores and the functional layers the reference denoisers are built from
 * (NHWC convolutions, dense layers, GroupNorm, SiLU, nearest upsampling, timestep features,
 * cross-attention). Weight layouts: conv `[kh, kw, Cin, Cout]`, dense `[in, out]`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { CheckpointError, ConfigError } from '../errors.js';
import { fusedGroupNorm } from '../core/ops/group-norm.js';
import { createRng } from '../core/random.js';

/** How a parameter is initialised: PyTorch-default uniform U(−1/√fanIn, 1/√fanIn), ones or zeros. */
export type ParamInit = { kind: 'uniform'; fanIn: number } | { kind: 'ones' } | { kind: 'zeros' };

/** One parameter: its name (PyTorch `state_dict` key), tfjs shape and initialiser. */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init: ParamInit;
}

/** Appends parameter specs in PyTorch module-registration order. */
export class ParamSpecBuilder {
  readonly specs: ParamSpec[] = [];
  /** `nn.Linear(i, o)`: weight `[i, o]`, bias `[o]`. */
  linear(name: string, i: number, o: number, bias = true): void {
    this.specs.push({ name: `${name}.weight`, shape: [i, o], init: { kind: 'uniform', fanIn: i } });
    if (bias) this.specs.push({ name: `${name}.bias`, shape: [o], init: { kind: 'uniform', fanIn: i } });
  }
  /** `nn.Conv2d(i, o, k)`: weight `[k, k, i, o]`, bias `[o]`. */
  conv(name: string, i: number, o: number, k: number): void {
    this.specs.push({ name: `${name}.weight`, shape: [k, k, i, o], init: { kind: 'uniform', fanIn: i * k * k } });
    this.specs.push({ name: `${name}.bias`, shape: [o], init: { kind: 'uniform', fanIn: i * k * k } });
  }
  /** `nn.Conv1d(i, o, k)` as a temporal conv: weight `[k, i, o]`, bias `[o]`. */
  conv1d(name: string, i: number, o: number, k: number, init?: 'zeros'): void {
    const u: ParamInit = init === 'zeros' ? { kind: 'zeros' } : { kind: 'uniform', fanIn: i * k };
    this.specs.push({ name: `${name}.weight`, shape: [k, i, o], init: u });
    this.specs.push({ name: `${name}.bias`, shape: [o], init: u });
  }
  /** `nn.GroupNorm(g, c)`: weight (ones) and bias (zeros), `[c]`. */
  norm(name: string, c: number): void {
    this.specs.push({ name: `${name}.weight`, shape: [c], init: { kind: 'ones' } });
    this.specs.push({ name: `${name}.bias`, shape: [c], init: { kind: 'zeros' } });
  }
}

/** Next store id, process-wide (two copies of prefkit in one process must not reuse variable names). */
function nextStoreId(): number {
  const g = globalThis as { __prefkitParamStoreId?: number };
  g.__prefkitParamStoreId = (g.__prefkitParamStoreId ?? 0) + 1;
  return g.__prefkitParamStoreId;
}

/**
 * Owns a model's `tf.Variable`s, one per {@link ParamSpec}, in spec order.
 * Variable names are unique per store (`prefkit/<kind>/<id>/<param>`), so several models coexist.
 */
export class ParamStore {
  /** The parameter specs, in order. */
  readonly specs: readonly ParamSpec[];
  /** Name → variable, in spec order. */
  readonly vars: Record<string, tf.Variable>;
  /** Whether the variables are trainable. */
  readonly trainable: boolean;

  /**
   * @param specs - parameter specs.
   * @param opts - `seed` for PyTorch-default init (drawn in spec order from one {@link createRng} stream),
   *   or `values` to copy from (name → tensor or array), `trainable`, and `kind` for variable names.
   * @throws {CheckpointError} when `values` misses a parameter or has a wrong shape.
   */
  constructor(
    specs: readonly ParamSpec[],
    opts: { seed?: number | string; values?: Record<string, tf.Tensor>; trainable?: boolean; kind?: string },
  ) {
    this.specs = specs;
    this.trainable = opts.trainable ?? true;
    const id = nextStoreId();
    const rng = opts.values ? null : createRng(opts.seed ?? 0);
    const vars: Record<string, tf.Variable> = {};
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      let init: tf.Tensor;
      if (opts.values) {
        const v = opts.values[s.name];
        if (!v) throw new CheckpointError(`Missing weight '${s.name}' (shape [${s.shape.join(', ')}]).`);
        const shape = v.shape;
        if (shape.length !== s.shape.length || shape.some((d, i) => d !== s.shape[i])) {
          throw new CheckpointError(`Weight '${s.name}' has shape [${shape.join(', ')}], the model expects [${s.shape.join(', ')}].`);
        }
        init = v.dtype === 'float32' ? v.clone() : tf.cast(v, 'float32');
      } else if (s.init.kind === 'ones') init = tf.ones([...s.shape]);
      else if (s.init.kind === 'zeros') init = tf.zeros([...s.shape]);
      else {
        const b = 1 / Math.sqrt(s.init.fanIn);
        init = tf.tensor(rng!.uniformArray(n, -b, b), [...s.shape], 'float32');
      }
      vars[s.name] = tf.variable(init, this.trainable, `prefkit/${opts.kind ?? 'model'}/${id}/${s.name}`);
      init.dispose();
    }
    this.vars = vars;
  }

  /** Variables in spec order. */
  list(): tf.Variable[] {
    return this.specs.map((s) => this.vars[s.name]);
  }

  /** Total number of scalar parameters. */
  count(): number {
    return this.specs.reduce((a, s) => a + s.shape.reduce((x, y) => x * y, 1), 0);
  }

  /** Free every variable. */
  dispose(): void {
    for (const v of Object.values(this.vars)) v.dispose();
  }
}

/** Parameter lookup used by the layer functions. */
export type Params = Record<string, tf.Tensor>;

const PAD_DOWN: [[number, number], [number, number], [number, number], [number, number]] = [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
];

/** SiLU, x·σ(x). */
export function silu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(x));
}

/** Dense layer `x·W + b` (`tf.fused.matMul`), x `[N, in]` → `[N, out]`. */
export function dense(P: Params, name: string, x: tf.Tensor): tf.Tensor {
  const b = P[`${name}.bias`];
  return tf.fused.matMul({ a: x as tf.Tensor2D, b: P[`${name}.weight`] as tf.Tensor2D, bias: b });
}

/**
 * 2-D convolution with bias (`tf.fused.conv2d`), NHWC. 1×1: no padding; k×k stride 1: 'same';
 * stride 2: explicit zero padding of 1 on every side (PyTorch `padding=1`).
 */
export function conv2d(P: Params, name: string, x: tf.Tensor, stride: 1 | 2 = 1): tf.Tensor4D {
  const W = P[`${name}.weight`] as tf.Tensor4D;
  const k = W.shape[0];
  const pad = k === 1 ? 'valid' : stride === 1 ? 'same' : PAD_DOWN;
  return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: W, strides: stride, pad, bias: P[`${name}.bias`] });
}

/**
 * GroupNorm over `[N, ..., C]` with `groups` groups of consecutive channels, biased variance over
 * all non-batch positions and the group's channels, then per-channel affine (PyTorch `GroupNorm`).
 * Runs core's {@link fusedGroupNorm} (one op with a written-out gradient: one tape entry instead of
 * ~40 autodiff ops).
 */
export function groupNorm(P: Params, name: string, x: tf.Tensor, groups: number, eps: number): tf.Tensor {
  return fusedGroupNorm(x, P[`${name}.weight`], P[`${name}.bias`], { groups, eps });
}

/** SiLU(GroupNorm(x)) as one op (the pair every ResBlock uses), via core's {@link fusedGroupNorm}. */
export function groupNormSilu(P: Params, name: string, x: tf.Tensor, groups: number, eps: number): tf.Tensor {
  return fusedGroupNorm(x, P[`${name}.weight`], P[`${name}.bias`], { groups, eps, activation: 'silu' });
}

/** Reference GroupNorm by automatic differentiation (tests compare {@link groupNorm} with it). @internal */
export function groupNormAutodiff(P: Params, name: string, x: tf.Tensor, groups: number, eps: number): tf.Tensor {
  const shape = x.shape;
  const N = shape[0];
  const C = shape[shape.length - 1];
  const cg = C / groups;
  const xr = tf.reshape(x, [N, -1, groups, cg]); // [N, S, G, C/G]
  const { mean, variance } = tf.moments(xr, [1, 3], true); // [N, 1, G, 1]
  const gamma = tf.reshape(P[`${name}.weight`], [1, 1, groups, cg]);
  const beta = tf.reshape(P[`${name}.bias`], [1, 1, groups, cg]);
  const a = tf.mul(tf.rsqrt(tf.add(variance, eps)), gamma); // [N, 1, G, C/G]
  const b = tf.sub(beta, tf.mul(mean, a)); // [N, 1, G, C/G]
  return tf.reshape(tf.add(tf.mul(xr, a), b), shape);
}

/** Nearest-neighbour 2× upsampling `[N, H, W, C]` → `[N, 2H, 2W, C]` by reshape + broadcast. */
export function upsample2x(x: tf.Tensor): tf.Tensor4D {
  const [N, H, W, C] = x.shape;
  // two rank<=4 broadcasts (tfjs has no Tile gradient beyond rank 4): columns, then rows
  const cols = tf.broadcastTo(tf.reshape(x, [N * H, W, 1, C]), [N * H, W, 2, C]); // [NH, W, 2, C]
  const rows = tf.broadcastTo(tf.reshape(cols, [N * H, 1, 2 * W * C]), [N * H, 2, 2 * W * C]); // [NH, 2, 2WC]
  return tf.reshape(rows, [N, 2 * H, 2 * W, C]);
}

/**
 * Sinusoidal timestep features: f_i = exp(−ln(10000)·i/half), i < half = dim/2;
 * s(t) = [sin(t·f), cos(t·f)].
 * @param t - timesteps `[N]`.
 * @param dim - even feature count.
 * @returns `[N, dim]`.
 * @see Vaswani et al. 2017, Section 3.5; Ho et al. 2020
 */
export function timestepFeatures(t: tf.Tensor, dim: number): tf.Tensor2D {
  if (dim % 2 !== 0) throw new ConfigError(`timestepFeatures: dim must be even, got ${dim}.`);
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const args = tf.mul(tf.reshape(tf.cast(t, 'float32'), [-1, 1]), tf.tensor2d(freqs, [1, half])); // [N, half]
  return tf.concat([tf.sin(args), tf.cos(args)], 1) as tf.Tensor2D;
}

/**
 * Multi-head cross-attention block with a residual: x + to_out(softmax(q·kᵀ/√d)·v),
 * q = to_q(GN(x)), k = to_k(tokens), v = to_v(tokens). Parameters `<name>.norm`, `.to_q`, `.to_k`,
 * `.to_v` (no bias), `.to_out`.
 * @param x - `[N, H, W, C]`.
 * @param tokens - `[N, L, D]`.
 * @param mask - optional `[N, L]`, 1 keep / 0 pad.
 */
export function crossAttention(P: Params, name: string, x: tf.Tensor, tokens: tf.Tensor, mask: tf.Tensor | undefined, heads: number, groups: number, eps: number): tf.Tensor {
  const [N, H, W, C] = x.shape;
  const L = tokens.shape[1] as number;
  const D = tokens.shape[2] as number;
  const d = C / heads;
  const h = tf.reshape(groupNorm(P, `${name}.norm`, x, groups, eps), [N * H * W, C]);
  const q = tf.transpose(tf.reshape(tf.matMul(h, P[`${name}.to_q.weight`] as tf.Tensor2D), [N, H * W, heads, d]), [0, 2, 1, 3]); // [N, h, HW, d]
  const tk = tf.reshape(tokens, [N * L, D]);
  const k = tf.transpose(tf.reshape(tf.matMul(tk, P[`${name}.to_k.weight`] as tf.Tensor2D), [N, L, heads, d]), [0, 2, 3, 1]); // [N, h, d, L]
  const v = tf.transpose(tf.reshape(tf.matMul(tk, P[`${name}.to_v.weight`] as tf.Tensor2D), [N, L, heads, d]), [0, 2, 1, 3]); // [N, h, L, d]
  let scores = tf.mul(tf.matMul(q, k), 1 / Math.sqrt(d)); // [N, h, HW, L]
  if (mask) scores = tf.add(scores, tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -1e9), [N, 1, 1, L]));
  const attn = tf.matMul(tf.softmax(scores), v); // [N, h, HW, d]
  const o = tf.reshape(tf.transpose(attn, [0, 2, 1, 3]), [N * H * W, C]);
  return tf.add(x, tf.reshape(dense(P, `${name}.to_out`, o), [N, H, W, C]));
}
