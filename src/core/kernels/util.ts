/**
 * Shared plumbing for the gradient kernels prefkit registers on the wasm backend.
 *
 * The kernels are plain tfjs `kernelFunc`s: they call the wasm backend's own kernel
 * functions (never tf ops, so nothing is recorded on the gradient tape) and free their
 * temporaries with `backend.disposeData`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';

/** A tensor as the backend sees it inside a kernel. */
export type TensorInfo = tf.TensorInfo;

/** The subset of the wasm (or cpu) backend API the kernels use. */
export interface KernelBackend {
  disposeData(dataId: object, force?: boolean): boolean;
  /** wasm only: allocate an output on the wasm heap. */
  makeOutput?(shape: number[], dtype: tf.DataType): TensorInfo;
  /** wasm only: a typed-array view of a tensor's bytes on the wasm heap. */
  typedArrayFromHeap?(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** Arguments a kernelFunc receives. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: object;
  attrs?: tf.NamedAttrMap;
}

/** A kernelFunc returning one tensor. */
export type KernelFn = (args: KernelArgs) => TensorInfo;

/** Look up the kernel `name` of `backendName`; throws when the backend lacks it. */
export function kernelOf(name: string, backendName: string): KernelFn {
  const cfg = tf.getKernel(name, backendName);
  if (cfg == null) throw new Error(`prefkit: the ${backendName} backend has no ${name} kernel.`);
  return cfg.kernelFunc as unknown as KernelFn;
}

/**
 * Runs backend kernels and remembers their outputs as temporaries, freed by
 * {@link Scratch.dispose}; `keep` exempts the final output.
 */
export class Scratch {
  private temps: TensorInfo[] = [];
  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
  ) {}
  /** Run kernel `name` and keep its output as a temporary. */
  run(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    const out = kernelOf(name, this.backendName)({ inputs, backend: this.backend, attrs });
    this.temps.push(out);
    return out;
  }
  /** Track a tensor made by hand (e.g. `makeOutput`). */
  track(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }
  /** Run kernel `name` and return its output without tracking it (the kernel's result). */
  final(name: string, inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap = {}): TensorInfo {
    return kernelOf(name, this.backendName)({ inputs, backend: this.backend, attrs });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }
  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }
  /**
   * Pad (positive amounts) or crop (negative amounts) each dimension of `x`;
   * `amounts[d] = [before, after]`.
   */
  padOrCrop(x: TensorInfo, amounts: Array<[number, number]>): TensorInfo {
    let y = x;
    if (amounts.some(([a, b]) => a < 0 || b < 0)) {
      const begin = amounts.map(([a]) => Math.max(-a, 0));
      const size = y.shape.map((s, d) => s - Math.max(-amounts[d][0], 0) - Math.max(-amounts[d][1], 0));
      if (size.some((s) => s <= 0)) throw new Error(`prefkit: crop leaves an empty tensor (shape [${x.shape}], amounts ${JSON.stringify(amounts)}).`);
      y = this.run('Slice', { x: y }, { begin, size });
    }
    if (amounts.some(([a, b]) => a > 0 || b > 0)) {
      const paddings = amounts.map(([a, b]) => [Math.max(a, 0), Math.max(b, 0)]);
      y = this.run('PadV2', { x: y }, { paddings, constantValue: 0 });
    }
    return y;
  }
  /** Free every temporary except those in `keep`. */
  dispose(keep: TensorInfo[] = []): void {
    const keepIds = new Set(keep.map((k) => k.dataId));
    for (const t of this.temps) if (!keepIds.has(t.dataId)) this.backend.disposeData(t.dataId);
    this.temps = [];
  }
}

/** Normalise a 2-tuple-or-number attribute. */
export function pair(v: unknown, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  if (typeof v === 'number') return [v, v];
  const a = v as number[];
  return [a[0], a[1]];
}

/** Reject channels-first layouts, which the wasm convolutions do not support. */
export function assertNhwc(dataFormat: unknown, kernel: string): void {
  if (dataFormat != null && dataFormat !== 'NHWC' && dataFormat !== 'channelsLast') {
    throw new Error(`prefkit ${kernel} (wasm): dataFormat '${String(dataFormat)}' is not supported, only NHWC.`);
  }
}

/**
 * Flip a filter `[KH, KW, A, Bc]` spatially and swap its last two axes:
 * `out[kh, kw, b, a] = f[KH-1-kh, KW-1-kw, a, b]` (`swap = true`), or keep them
 * (`swap = false`, `out[kh, kw, a, b]`). A loop over the filter only (kilobytes): the wasm
 * Reverse kernel is slower than this for conv filters.
 */
export function flipFilter(backend: KernelBackend, filter: TensorInfo, swap: boolean): TensorInfo {
  const [KH, KW, A, Bc] = filter.shape;
  if (!backend.makeOutput || !backend.typedArrayFromHeap) throw new Error('prefkit: flipFilter needs the wasm backend.');
  const out = backend.makeOutput(swap ? [KH, KW, Bc, A] : [KH, KW, A, Bc], 'float32');
  // views after the allocation: the heap may have grown
  const f = backend.typedArrayFromHeap(filter) as Float32Array;
  const o = backend.typedArrayFromHeap(out) as Float32Array;
  const plane = A * Bc;
  for (let kh = 0; kh < KH; kh++) {
    for (let kw = 0; kw < KW; kw++) {
      const src = ((KH - 1 - kh) * KW + (KW - 1 - kw)) * plane;
      const dst = (kh * KW + kw) * plane;
      if (!swap) {
        o.set(f.subarray(src, src + plane), dst);
        continue;
      }
      for (let a = 0; a < A; a++) {
        for (let b = 0; b < Bc; b++) o[dst + b * A + a] = f[src + a * Bc + b];
      }
    }
  }
  return out;
}
