/**
 * Numerically stable building blocks: softplus with an exact gradient at every point, and a
 * non-finite counter. `−log σ(z) = softplus(−z)` is how every link here is written.
 * @module
 */
import * as tf from '@tensorflow/tfjs';

const softplusOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  const save = args[1] as tf.GradSaveFunc;
  save([x]); // the engine keeps saved tensors alive until backprop (a closure over x would not)
  // softplus(x) = max(x, 0) + log1p(exp(−|x|)): no overflow for any finite x (|x| = 1e4 included).
  const value = tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
  // d softplus / dx = σ(x), exact at x = 0 as well (|x| has a kink there; σ does not).
  return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.sigmoid(saved[0])) };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * softplus(x) = log(1 + eˣ), finite for every finite x, with gradient σ(x).
 *
 * @param x - any shape.
 * @returns a tensor of the same shape.
 * @example
 * softplus(tf.tensor1d([-1e4, 0, 1e4])); // [0, ln 2, 1e4]
 */
export function softplus<T extends tf.Tensor>(x: T): T {
  return softplusOp(x) as T;
}

/**
 * −log σ(z), computed as softplus(−z) (never `log(sigmoid(z))`, which underflows to −∞).
 *
 * @param z - any shape.
 * @returns −log σ(z), same shape.
 * @example
 * negLogSigmoid(tf.scalar(0)); // ln 2
 */
export function negLogSigmoid<T extends tf.Tensor>(z: T): T {
  return softplus(tf.neg(z)) as T;
}

/**
 * Number of NaN or ±Inf values across tensors, as a float32 scalar (computed on the backend,
 * no synchronisation).
 *
 * @param tensors - tensors of any shape; `undefined` entries are skipped.
 * @returns a scalar count.
 * @example
 * countNonFinite(tf.tensor1d([1, NaN, Infinity])); // 2
 */
export function countNonFinite(...tensors: (tf.Tensor | undefined)[]): tf.Scalar {
  return tf.tidy(() => {
    let n: tf.Scalar = tf.scalar(0);
    for (const t of tensors) {
      if (!t || t.size === 0) continue;
      n = tf.add(n, tf.sum(tf.cast(tf.logicalNot(tf.isFinite(t)), 'float32')));
    }
    return n;
  });
}

/** Mean of a tensor, 0 for an empty one (a [0]-tensor's mean would be NaN). @internal */
export function safeMean(t: tf.Tensor): tf.Scalar {
  return t.size === 0 ? tf.scalar(0) : tf.mean(t);
}

const stopGradientOp = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return { value: tf.clone(x), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
}) as (x: tf.Tensor) => tf.Tensor;

/**
 * Identity in the forward pass, zero gradient in the backward pass (PyTorch's `.detach()`;
 * tfjs has no such op).
 *
 * @param x - any shape.
 * @returns a copy of `x` that blocks gradients.
 * @example
 * const kl = stopGradient(tf.relu(tf.mean(g))); // as `.detach()` in Diffusion-KTO
 */
export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stopGradientOp(x) as T;
}
