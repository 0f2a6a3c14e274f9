/**
 * Faster wasm kernels for data movement that training hits every step (found by profiling the
 * peer benchmark, bench/RESULTS.md "Peer"):
 *
 * - `Slice` / `SplitV`: tfjs-backend-wasm 4.22's Slice reads its input with `readSync`, which
 *   copies the WHOLE input out of the wasm heap on every call; splitting a flat 416,676-parameter
 *   buffer into 70 pieces copied 117 MB (~90 ms). Here the input is read through a heap view, and
 *   only the slice is copied (row by row for non-contiguous slices, as the stock kernel does).
 * - `Tile`: the stock kernel is a generic C++ index loop (3-50 ms for 65k-260k elements; it is
 *   what `tf.broadcastTo` runs). Here it is one broadcasting `Multiply` by a small ones tensor
 *   (each tiled axis that is not size 1 gets a new axis of size `reps` in front of it), exact for
 *   every float (x·1 = x); bool goes through float32 0/1 (`tf.where` tiles its bool
 *   condition to the full shape: 20-100 ms for a flat 416,676-element AdamW buffer before);
 *   int32 and other dtypes use the stock kernel (wasm's broadcasting int32 Multiply is slow).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { kernelOf, Scratch, type KernelArgs, type KernelBackend, type TensorInfo } from './util.js';

type Views = Float32Array | Int32Array | Uint8Array;

/** Copy x[begin : begin+size] (any rank) from heap view `xv` to `ov`, contiguous runs at a time. */
function copySlice(xv: Views, shape: number[], begin: number[], size: number[], ov: Views): void {
  const rank = shape.length;
  const strides = new Array<number>(rank);
  let s = 1;
  for (let d = rank - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  // collapse the trailing axes that are taken whole into one run
  let inner = rank - 1;
  let run = size[rank - 1];
  while (inner > 0 && size[inner] === shape[inner] && begin[inner] === 0) {
    inner--;
    run *= size[inner];
  }
  // now axes [0, inner) are iterated; axis `inner` contributes begin[inner]·stride and the run
  const base = begin[inner] * strides[inner];
  const outer = size.slice(0, inner);
  const nOuter = outer.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(inner).fill(0);
  let o = 0;
  for (let n = 0; n < nOuter; n++) {
    let off = base;
    for (let d = 0; d < inner; d++) off += (begin[d] + idx[d]) * strides[d];
    ov.set(xv.subarray(off, off + run), o);
    o += run;
    for (let d = inner - 1; d >= 0; d--) {
      if (++idx[d] < outer[d]) break;
      idx[d] = 0;
    }
  }
}

function sliceImpl(x: TensorInfo, begin: number[], size: number[], backend: KernelBackend): TensorInfo {
  const out = (backend.makeOutput as NonNullable<KernelBackend['makeOutput']>)(size, x.dtype);
  if (size.some((d) => d === 0)) return out;
  // views after the allocation (a heap growth detaches older views)
  const xv = (backend.typedArrayFromHeap as NonNullable<KernelBackend['typedArrayFromHeap']>)(x);
  const ov = (backend.typedArrayFromHeap as NonNullable<KernelBackend['typedArrayFromHeap']>)(out);
  if (x.shape.length === 0) ov.set(xv.subarray(0, 1));
  else copySlice(xv, x.shape, begin, size, ov);
  return out;
}

/** kernelFunc of `Slice` for wasm (stock kernel for strings). */
export function makeSlice() {
  const stock = kernelOf('Slice', 'wasm');
  return function slice(args: KernelArgs): TensorInfo {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock(args);
    const [begin, size] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, args.attrs?.begin as number[], args.attrs?.size as number[]);
    return sliceImpl(x, begin, size, args.backend as KernelBackend);
  };
}

/** kernelFunc of `SplitV` for wasm, on {@link makeSlice}'s copy. */
export function makeSplitV() {
  const stock = kernelOf('SplitV', 'wasm') as unknown as (a: KernelArgs) => TensorInfo[];
  return function splitV(args: KernelArgs): TensorInfo[] {
    const x = args.inputs.x as TensorInfo;
    if (x.dtype === 'string') return stock(args);
    const axis = tf.util.parseAxisParam(args.attrs?.axis as number, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, args.attrs?.numOrSizeSplits as number[] | number, axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[axis] = s;
      const out = sliceImpl(x, [...begin], size, args.backend as KernelBackend);
      begin[axis] += s;
      return out;
    });
  };
}

/** kernelFunc of `Tile` for wasm: a broadcasting Multiply by ones (stock kernel for string/complex). */
export function makeTile() {
  const stock = kernelOf('Tile', 'wasm');
  return function tile(args: KernelArgs): TensorInfo {
    const x = args.inputs.x as TensorInfo;
    const reps = args.attrs?.reps as number[];
    // int32 stays on the stock kernel: wasm's broadcasting int32 Multiply is a slow generic loop
    if ((x.dtype !== 'float32' && x.dtype !== 'bool') || reps.length !== x.shape.length) return stock(args);
    const b = args.backend as KernelBackend;
    const outShape = x.shape.map((d, i) => d * reps[i]);
    if (reps.every((r) => r === 1) || outShape.some((d) => d === 0)) return stock(args);
    const xShape: number[] = [];
    const onesShape: number[] = [];
    x.shape.forEach((d, i) => {
      const r = reps[i];
      if (r === 1) {
        xShape.push(d);
        onesShape.push(1);
      } else if (d === 1) {
        xShape.push(1);
        onesShape.push(r);
      } else {
        xShape.push(1, d);
        onesShape.push(r, 1);
      }
    });
    if (xShape.length > 6) return stock(args); // keep the binary kernel's broadcasting in its comfort zone
    const s = new Scratch(b, 'wasm');
    try {
      // bool (tf.where broadcasting its condition): tiled as float32 0/1, then cast back
      const isBool = x.dtype === 'bool';
      const xn = isBool ? s.run('Cast', { x }, { dtype: 'float32' }) : x;
      const xr = s.reshape(xn, xShape);
      const ones = s.run('Fill', {}, { shape: onesShape, value: 1, dtype: 'float32' });
      const y = s.run('Multiply', { a: xr, b: ones });
      if (isBool) return s.final('Cast', { x: s.reshape(y, outShape) }, { dtype: 'bool' });
      return s.final('Reshape', { x: y }, { shape: outShape });
    } finally {
      s.dispose();
    }
  };
}

/** Above this many elements a transposed matmul operand is transposed explicitly first. */
const EXPLICIT_TRANSPOSE_MIN = 4096;

function swapLast2(rank: number): number[] {
  const p = Array.from({ length: rank }, (_, i) => i);
  [p[rank - 2], p[rank - 1]] = [p[rank - 1], p[rank - 2]];
  return p;
}

/**
 * kernelFunc of `BatchMatMul` / `_FusedMatMul` for wasm: a large operand with `transposeA` or
 * `transposeB` is transposed by the Transpose kernel first, then the stock kernel runs without
 * the flag (its transposed paths are 4-10x slower for [2048, 64]-sized operands; dense-layer
 * weight gradients use them).
 */
export function makeMatMul(kernelName: 'BatchMatMul' | '_FusedMatMul') {
  const stock = kernelOf(kernelName, 'wasm');
  return function matMul(args: KernelArgs): TensorInfo {
    const attrs = args.attrs ?? {};
    const a = args.inputs.a as TensorInfo;
    const b = args.inputs.b as TensorInfo;
    const ta = Boolean(attrs.transposeA) && a.shape.reduce((x, y) => x * y, 1) >= EXPLICIT_TRANSPOSE_MIN;
    const tb = Boolean(attrs.transposeB) && b.shape.reduce((x, y) => x * y, 1) >= EXPLICIT_TRANSPOSE_MIN;
    if (!ta && !tb) return stock(args);
    const s = new Scratch(args.backend as KernelBackend, 'wasm');
    try {
      const inputs = { ...args.inputs };
      if (ta) inputs.a = s.transpose(a, swapLast2(a.shape.length));
      if (tb) inputs.b = s.transpose(b, swapLast2(b.shape.length));
      return stock({ inputs, backend: args.backend, attrs: { ...attrs, transposeA: ta ? false : attrs.transposeA, transposeB: tb ? false : attrs.transposeB } });
    } finally {
      s.dispose();
    }
  };
}

/**
 * kernelFunc of `Identity` for wasm (what `tf.clone`, customGrad `save` and `tf.keep(x.clone())`
 * run): shares the data with a reference count, as the cpu backend does, instead of copying it
 * (the stock wasm kernel copies every byte; ~300 calls per training step of the peer UNet).
 * Tensors are immutable in tfjs (`Variable.assign` swaps data, never writes in place), so sharing
 * is safe. Strings use the stock kernel.
 */
export function makeIdentity() {
  const stock = kernelOf('Identity', 'wasm');
  return function identity(args: KernelArgs): TensorInfo {
    const x = args.inputs.x as TensorInfo;
    const b = args.backend as KernelBackend & { incRef?: (dataId: object) => void };
    if (x.dtype === 'string' || typeof b.incRef !== 'function') return stock(args);
    b.incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  };
}

/**
 * The `[outer, R, inner]` view under which a reduction of `shape` over `axes` is one average pooling
 * (see {@link makePooledReduce}), or null when the stock kernel should run: the reduced axes are not
 * one contiguous block, the block includes the last axis, or it has a single element.
 * @param shape - the input shape. @param axes - reduction axes (any order, negative allowed).
 */
export function pooledReduceView(shape: readonly number[], axes: number | number[]): [number, number, number] | null {
  const rank = shape.length;
  if (rank < 2) return null;
  const ax = [...new Set(tf.util.parseAxisParam(axes, [...shape]))].sort((p, q) => p - q);
  if (ax.length === 0) return null;
  const first = ax[0];
  const last = ax[ax.length - 1];
  if (last - first + 1 !== ax.length || last === rank - 1) return null;
  const prod = (from: number, to: number) => shape.slice(from, to).reduce((p, q) => p * q, 1);
  const view: [number, number, number] = [prod(0, first), prod(first, last + 1), prod(last + 1, rank)];
  return view[1] <= 1 || view[0] === 0 || view[2] === 0 ? null : view;
}

/**
 * kernelFunc of `Sum` / `Mean` for wasm: a float32 reduction over a contiguous block of axes that
 * leaves at least one axis after it (the bias gradient of a conv, `Σ_{n,h,w} dy`, and the spatial
 * sums of channels-last activations) runs as one XNNPACK average pooling over a `[outer, R, 1,
 * inner]` view, vectorised over the kept inner axes (times R for a sum). The stock kernels
 * transpose the reduced axes to the end first (the wasm Transpose kernel is a generic index loop:
 * 0.2-0.9 ms for 131k elements) and then reduce with a scalar loop. Every other case (innermost
 * reductions, non-float32 dtypes, one-element blocks) runs the stock kernel.
 */
export function makePooledReduce(kernelName: 'Sum' | 'Mean') {
  const stock = kernelOf(kernelName, 'wasm');
  return function pooledReduce(args: KernelArgs): TensorInfo {
    const x = args.inputs.x as TensorInfo;
    const axis = args.attrs?.axis as number | number[];
    const view = x.dtype === 'float32' ? pooledReduceView(x.shape, axis) : null;
    if (!view) return stock(args);
    const [outer, R, inner] = view;
    const reduced = new Set(tf.util.parseAxisParam(axis, x.shape));
    const keepDims = Boolean(args.attrs?.keepDims);
    const outShape = x.shape.map((d, i) => (reduced.has(i) ? 1 : d)).filter((d, i) => keepDims || !reduced.has(i));
    const s = new Scratch(args.backend as KernelBackend, 'wasm');
    try {
      const v = s.reshape(x, [outer, R, 1, inner]);
      let y = s.run('AvgPool', { x: v }, { filterSize: [R, 1], strides: [1, 1], pad: 'valid' }); // [outer, 1, 1, inner]
      if (kernelName === 'Sum') y = s.run('Multiply', { a: y, b: s.run('Fill', {}, { shape: [], value: R, dtype: 'float32' }) });
      return s.final('Reshape', { x: y }, { shape: outShape });
    } finally {
      s.dispose();
    }
  };
}
