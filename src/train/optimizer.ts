/**
 * AdamW over one flat parameter buffer: the gradients of every variable are concatenated once,
 * the moments live in two flat variables, and the whole update is a handful of large ops
 * (fewer small kernel calls: on wasm each costs 10-40 µs whatever its size).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { ShapeError } from '../errors.js';
import type { AdamWConfig } from './config.js';

/** Serialisable optimizer state (moments as flat Float32Arrays). */
export interface AdamWState {
  /** Number of updates applied (the bias-correction step). */
  step: number;
  /** First moment, length = parameter count. */
  m: Float32Array;
  /** Second moment. */
  v: Float32Array;
}

/** Result of {@link FlatAdamW.update}: device scalars, read only at log intervals. */
export interface AdamWUpdateInfo {
  /** Global gradient L2 norm before clipping. */
  gradNorm: tf.Scalar;
  /** 1 when the update was applied, 0 when skipped (non-finite loss or gradient). */
  applied: tf.Scalar;
}

/**
 * AdamW with torch.optim.AdamW semantics (decoupled weight decay, bias-corrected moments), global
 * gradient-norm clipping (torch `clip_grad_norm_`) and a device-side non-finite guard, over a flat
 * buffer of all trainable variables.
 *
 * Update, with g the (clipped) flat gradient, t the count of applied updates:
 * 1. m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²
 * 2. p ← p·(1 − lr·λ) − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + ε)
 * A step whose loss or gradient norm is not finite leaves p, m, v and t unchanged, without a
 * host sync.
 * @see Loshchilov & Hutter, Decoupled Weight Decay Regularization, Algorithm 2.
 */
export class FlatAdamW {
  /** The parameter count N. */
  readonly size: number;
  private readonly vars: tf.Variable[];
  private readonly sizes: number[];
  private readonly m: tf.Variable; // [N]
  private readonly v: tf.Variable; // [N]
  private readonly t: tf.Variable; // [] float count of applied updates
  private readonly cfg: AdamWConfig;
  /** How new parameters reach the variables: `host` (wasm/cpu) or `device`. */
  readonly writeback: 'host' | 'device';
  private hostStep = 0;
  /** Host write-back only: whether the last update was applied (known on the host at no cost); undefined on the device path. */
  lastApplied: boolean | undefined = undefined;

  /**
   * @param variables - the trainable variables, in a stable order.
   * @param config - lr (peak; the per-step rate is passed to update), betas, eps, weight decay.
   * @param options.writeback - `host`: read the new flat parameters back and assign each variable
   *   (fast on wasm/cpu, where kernels run synchronously anyway); `device`: masked `where` and `split`
   *   on the device, no host read (for tfjs-node/GPU); `auto` (default) picks by the active backend.
   */
  constructor(variables: tf.Variable[], config: AdamWConfig, options: { writeback?: 'auto' | 'host' | 'device' } = {}) {
    const wb = options.writeback ?? 'auto';
    this.writeback = wb === 'auto' ? (['wasm', 'cpu'].includes(tf.getBackend()) ? 'host' : 'device') : wb;
    this.vars = variables;
    this.sizes = variables.map((v) => v.size);
    this.size = this.sizes.reduce((a, b) => a + b, 0);
    this.cfg = config;
    const z = tf.zeros([this.size]);
    const z0 = tf.scalar(0);
    this.m = tf.variable(z, false);
    this.v = tf.variable(z, false);
    this.t = tf.variable(z0, false);
    tf.dispose([z, z0]);
  }

  /**
   * Concatenate per-variable gradients into one flat vector in variable order.
   * @param grads - gradient per variable name (as from tf.variableGrads).
   * @returns the flat gradient `[N]` (caller owns it).
   * @throws {ShapeError} when a variable has no gradient.
   */
  flatten(grads: Record<string, tf.Tensor>): tf.Tensor1D {
    return tf.tidy(() => {
      const parts = this.vars.map((v) => {
        const g = grads[v.name];
        if (!g) throw new ShapeError(`No gradient for variable "${v.name}"; every trainable variable must feed the loss.`, { argument: v.name });
        return tf.reshape(g, [-1]);
      });
      return (parts.length === 1 ? parts[0] : tf.concat(parts, 0)) as tf.Tensor1D;
    });
  }

  /**
   * Apply one update from a flat gradient.
   * @param flatGrad - `[N]` gradient (not disposed).
   * @param lr - the learning rate for this step.
   * @param opts.maxGradNorm - clip threshold, or null for none.
   * @param opts.finite - optional extra finiteness flag (e.g. of the loss), a bool or 0/1 scalar.
   * @returns grad norm and applied flag as device scalars (caller disposes).
   */
  update(flatGrad: tf.Tensor, lr: number, opts: { maxGradNorm: number | null; finite?: tf.Scalar }): AdamWUpdateInfo {
    if (flatGrad.size !== this.size) {
      throw new ShapeError(`FlatAdamW.update: gradient has ${flatGrad.size} elements, expected ${this.size}.`, {
        argument: 'flatGrad',
        actual: flatGrad.shape,
        expected: [this.size],
      });
    }
    return this.writeback === 'host' ? this.updateHost(flatGrad, lr, opts) : this.updateDevice(flatGrad, lr, opts);
  }

  /** Global norm, finiteness flag and clipped gradient (shared by both write-back paths). */
  private clipped(flatGrad: tf.Tensor, opts: { maxGradNorm: number | null; finite?: tf.Scalar }): { gradNorm: tf.Scalar; ok: tf.Scalar; g: tf.Tensor } {
    // Σg² as square + sum: tf.dot packs its fresh [N, 1] operand for XNNPACK on every call (~8× slower on wasm)
    const gradNorm = tf.sqrt(tf.sum(tf.square(flatGrad))) as tf.Scalar; // []
    let ok = tf.isFinite(gradNorm) as tf.Scalar; // [] bool
    if (opts.finite) ok = tf.logicalAnd(ok, tf.cast(opts.finite, 'bool')) as tf.Scalar;
    let g = flatGrad; // [N]
    if (opts.maxGradNorm !== null) {
      const coef = tf.minimum(tf.div(opts.maxGradNorm, tf.add(gradNorm, 1e-6)), 1); // []
      g = tf.mul(g, coef);
    }
    return { gradNorm, ok, g };
  }

  /**
   * wasm/cpu: every kernel has already run when it returns, so reading the new flat parameters back
   * is a memory copy, not a pipeline stall; it replaces 2 × (number of variables) slices, each of
   * which copies the whole flat input on wasm, and the broadcast `where`s of the skip guard.
   */
  private updateHost(flatGrad: tf.Tensor, lr: number, opts: { maxGradNorm: number | null; finite?: tf.Scalar }): AdamWUpdateInfo {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.cfg;
    const res = tf.tidy(() => {
      const { gradNorm, ok, g } = this.clipped(flatGrad, opts);
      const t = this.hostStep + 1;
      const bc1 = 1 - b1 ** t;
      const bc2Sqrt = Math.sqrt(1 - b2 ** t);
      const m = tf.add(tf.mul(this.m, b1), tf.mul(g, 1 - b1)); // [N]
      const v = tf.add(tf.mul(this.v, b2), tf.mul(tf.square(g), 1 - b2)); // [N]
      const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps); // [N]
      const p = this.vars.length === 1 ? tf.reshape(this.vars[0], [-1]) : tf.concat(this.vars.map((x) => tf.reshape(x, [-1])), 0); // [N]
      const pNew = tf.sub(tf.mul(p, 1 - lr * wd), tf.mul(tf.div(m, denom), lr / bc1)); // [N]
      return { gradNorm, okF: tf.cast(ok, 'float32'), m, v, pNew };
    });
    const applied = res.okF.dataSync()[0] === 1; // host read (wasm/cpu: already computed)
    this.lastApplied = applied;
    if (applied) {
      this.hostStep++;
      this.m.assign(res.m);
      this.v.assign(res.v);
      const vals = res.pNew.dataSync() as Float32Array;
      let off = 0;
      tf.tidy(() => {
        for (const x of this.vars) {
          x.assign(tf.tensor(vals.subarray(off, off + x.size), x.shape, 'float32'));
          off += x.size;
        }
        this.t.assign(tf.scalar(this.hostStep));
      });
    }
    tf.dispose([res.m, res.v, res.pNew]);
    return { gradNorm: res.gradNorm, applied: res.okF as tf.Scalar };
  }

  /** Device path (tfjs-node and others): masked update with `where`, split back on the device. */
  private updateDevice(flatGrad: tf.Tensor, lr: number, opts: { maxGradNorm: number | null; finite?: tf.Scalar }): AdamWUpdateInfo {
    const { beta1: b1, beta2: b2, eps, weightDecay: wd } = this.cfg;
    return tf.tidy(() => {
      const { gradNorm, ok, g } = this.clipped(flatGrad, opts);
      const okF = tf.cast(ok, 'float32') as tf.Scalar;
      const t = tf.add(this.t, okF); // [] count including this step
      const tSafe = tf.maximum(t, 1);
      const bc1 = tf.sub(1, tf.pow(b1, tSafe)); // []
      const bc2Sqrt = tf.sqrt(tf.sub(1, tf.pow(b2, tSafe))); // []
      const m = tf.add(tf.mul(this.m, b1), tf.mul(g, 1 - b1)); // [N]
      const v = tf.add(tf.mul(this.v, b2), tf.mul(tf.square(g), 1 - b2)); // [N]
      const denom = tf.add(tf.div(tf.sqrt(v), bc2Sqrt), eps); // [N]
      const stepSize = tf.div(lr, bc1); // []
      const p = this.vars.length === 1 ? tf.reshape(this.vars[0], [-1]) : tf.concat(this.vars.map((x) => tf.reshape(x, [-1])), 0); // [N]
      const pNew = tf.sub(tf.mul(p, 1 - lr * wd), tf.mul(tf.div(m, denom), stepSize)); // [N]
      this.m.assign(tf.where(ok, m, this.m));
      this.v.assign(tf.where(ok, v, this.v));
      this.t.assign(t);
      const pOut = tf.where(ok, pNew, p);
      const pieces = this.vars.length === 1 ? [pOut] : tf.split(pOut, this.sizes, 0);
      this.vars.forEach((x, i) => x.assign(tf.reshape(pieces[i], x.shape)));
      return { gradNorm: tf.keep(gradNorm), applied: tf.keep(okF) };
    });
  }

  /** Snapshot of the state (one host sync). */
  async getState(): Promise<AdamWState> {
    const [m, v, t] = await Promise.all([this.m.data(), this.v.data(), this.t.data()]);
    return { step: t[0], m: m as Float32Array, v: v as Float32Array };
  }

  /**
   * Restore a snapshot from {@link FlatAdamW.getState}.
   * @throws {ShapeError} when the moment sizes differ from the parameter count.
   */
  setState(state: AdamWState): void {
    if (state.m.length !== this.size || state.v.length !== this.size) {
      throw new ShapeError(`Optimizer state has ${state.m.length}/${state.v.length} moment values, the model has ${this.size} parameters.`, {
        argument: 'optimizer state',
        actual: [state.m.length],
        expected: [this.size],
      });
    }
    tf.tidy(() => {
      this.m.assign(tf.tensor1d(state.m));
      this.v.assign(tf.tensor1d(state.v));
      this.t.assign(tf.scalar(state.step));
    });
    this.hostStep = state.step;
  }

  /** Free the moment buffers. */
  dispose(): void {
    this.m.dispose();
    this.v.dispose();
    this.t.dispose();
  }
}
