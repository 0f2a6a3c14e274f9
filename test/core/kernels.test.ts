/**
 * prefkit's wasm gradient kernels against the tfjs cpu backend's own kernels, on random
 * inputs: relative L2 error < 1e-4 over strides, paddings, dilations and batch sizes.
 */
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng } from '../../src/core/random.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { relErr } from '../helpers/numeric.js';
import { pooledReduceView } from '../../src/core/kernels/fast-ops.js';

type Pad = 'same' | 'valid' | number | [[number, number], [number, number], [number, number], [number, number]];
type Inputs = Record<string, { values: Float32Array | Int32Array; shape: number[]; dtype?: 'float32' | 'int32' }>;

const rng = createRng('kernels-test');

function randn(shape: number[]): { values: Float32Array; shape: number[] } {
  return { values: rng.normalArray(shape.reduce((x, y) => x * y, 1)), shape };
}

/** Run kernel `name` on `backend` with fresh tensors; returns values and shape. */
async function runOn(backend: 'cpu' | 'wasm', name: string, inputs: Inputs, attrs: tf.NamedAttrMap) {
  await tf.setBackend(backend);
  const ts: Record<string, tf.Tensor> = {};
  for (const [k, v] of Object.entries(inputs)) ts[k] = tf.tensor(v.values, v.shape, v.dtype ?? 'float32');
  const out = tf.engine().runKernel(name, ts as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
  const res = { values: out.dataSync().slice(), shape: out.shape };
  tf.dispose([out, ...Object.values(ts)]);
  return res;
}

async function compare(name: string, inputs: Inputs, attrs: tf.NamedAttrMap): Promise<number> {
  const cpu = await runOn('cpu', name, inputs, attrs);
  const wasm = await runOn('wasm', name, inputs, attrs);
  expect(wasm.shape).toEqual(cpu.shape);
  return relErr(wasm.values, cpu.values);
}

function outShape(x: number[], f: number[], strides: number, pad: Pad, dil = 1, depthwise = false): number[] {
  const info = tf.backend_util.computeConv2DInfo(
    x as [number, number, number, number],
    f as [number, number, number, number],
    strides,
    dil,
    pad,
    undefined,
    depthwise,
  );
  return info.outShape;
}

beforeAll(async () => {
  const info = await initEngine({ backend: 'wasm', threads: 1 });
  expect(info.kernels).toContain('Conv2DBackpropFilter');
});

const EXPLICIT: Pad = [[0, 0], [1, 2], [0, 1], [0, 0]];
const CONV_CASES: Array<{ B: number; H: number; W: number; Ci: number; Co: number; K: number; s: number; pad: Pad }> = [];
for (const B of [1, 3]) {
  for (const s of [1, 2]) {
    for (const pad of ['same', 'valid', EXPLICIT, 1] as Pad[]) {
      CONV_CASES.push({ B, H: 7, W: 6, Ci: 3, Co: 5, K: 3, s, pad });
    }
  }
}
CONV_CASES.push({ B: 2, H: 8, W: 8, Ci: 4, Co: 6, K: 1, s: 1, pad: 'valid' });
CONV_CASES.push({ B: 2, H: 9, W: 9, Ci: 3, Co: 4, K: 5, s: 2, pad: 'same' });
CONV_CASES.push({ B: 2, H: 8, W: 8, Ci: 8, Co: 8, K: 4, s: 2, pad: 'same' });

const label = (p: Pad) => (typeof p === 'string' || typeof p === 'number' ? String(p) : 'explicit');

describe('Conv2DBackpropFilter (wasm) vs cpu', () => {
  it.each(CONV_CASES)('B=$B $Hx$W $Ci->$Co k=$K s=$s pad=$pad', async ({ B, H, W, Ci, Co, K, s, pad }) => {
    const xs = [B, H, W, Ci];
    const fs = [K, K, Ci, Co];
    const ys = outShape(xs, fs, s, pad);
    const err = await compare('Conv2DBackpropFilter', { x: randn(xs), dy: randn(ys) }, { strides: s, pad, dataFormat: 'NHWC', filterShape: fs });
    expect(err, `${label(pad)}`).toBeLessThan(1e-4);
  });
});

describe('Conv2DBackpropInput (wasm, XNNPACK) vs cpu', () => {
  it.each(CONV_CASES)('B=$B $Hx$W $Ci->$Co k=$K s=$s pad=$pad', async ({ B, H, W, Ci, Co, K, s, pad }) => {
    const xs = [B, H, W, Ci];
    const fs = [K, K, Ci, Co];
    const ys = outShape(xs, fs, s, pad);
    const err = await compare('Conv2DBackpropInput', { dy: randn(ys), filter: randn(fs) }, { strides: s, pad, dataFormat: 'NHWC', inputShape: xs });
    expect(err).toBeLessThan(1e-4);
  });

  it('serves tf.conv2dTranspose (stride 2, same)', async () => {
    const x = randn([2, 4, 5, 6]);
    const f = randn([3, 3, 3, 6]);
    const res: Record<string, Float32Array> = {};
    for (const be of ['cpu', 'wasm'] as const) {
      await tf.setBackend(be);
      const y = tf.tidy(() => tf.conv2dTranspose(tf.tensor4d(x.values, x.shape as [number, number, number, number]), tf.tensor4d(f.values, f.shape as [number, number, number, number]), [2, 8, 10, 3], 2, 'same'));
      res[be] = y.dataSync() as Float32Array;
      y.dispose();
    }
    expect(relErr(res.wasm, res.cpu)).toBeLessThan(1e-4);
  });
});

const DW_CASES: Array<{ B: number; H: number; C: number; M: number; K: number; s: number; pad: Pad }> = [];
for (const B of [1, 2]) {
  for (const s of [1, 2]) {
    for (const pad of ['same', 'valid', EXPLICIT] as Pad[]) {
      DW_CASES.push({ B, H: 7, C: 3, M: B === 1 ? 1 : 2, K: 3, s, pad });
    }
  }
}

describe('DepthwiseConv2dNative backprops (wasm) vs cpu', () => {
  it.each(DW_CASES)('filter: B=$B H=$H C=$C M=$M k=$K s=$s pad=$pad', async ({ B, H, C, M, K, s, pad }) => {
    const xs = [B, H, H + 1, C];
    const fs = [K, K, C, M];
    const ys = outShape(xs, fs, s, pad, 1, true);
    const attrs = { strides: s, pad, dilations: 1, filterShape: fs };
    const err = await compare('DepthwiseConv2dNativeBackpropFilter', { x: randn(xs), dy: randn(ys) }, attrs);
    expect(err).toBeLessThan(1e-4);
  });
  it.each(DW_CASES)('input: B=$B H=$H C=$C M=$M k=$K s=$s pad=$pad', async ({ B, H, C, M, K, s, pad }) => {
    const xs = [B, H, H + 1, C];
    const fs = [K, K, C, M];
    const ys = outShape(xs, fs, s, pad, 1, true);
    const attrs = { strides: s, pad, dilations: 1, inputShape: xs };
    const err = await compare('DepthwiseConv2dNativeBackpropInput', { dy: randn(ys), filter: randn(fs) }, attrs);
    expect(err).toBeLessThan(1e-4);
  });
});

/**
 * Dilation: tfjs computes no gradient for dilated convs, and the cpu backend's depthwise
 * backprop kernels ignore dilation, so the reference here is the adjoint of the (correct)
 * cpu forward: dW[k] = <dy, dwconv(x, e_k)>, dx[i] = <dy, dwconv(e_i, W)> over unit tensors.
 */
describe('DepthwiseConv2dNative backprops with dilation 2 (wasm) vs adjoint of the cpu forward', () => {
  const cases: Array<{ pad: Pad; M: number }> = [
    { pad: 'same', M: 1 },
    { pad: 'valid', M: 2 },
    { pad: EXPLICIT, M: 2 },
  ];
  it.each(cases)('pad=$pad M=$M', async ({ pad, M }) => {
    const B = 2;
    const xs = [B, 7, 8, 2];
    const fs = [3, 3, 2, M];
    const ys = outShape(xs, fs, 1, pad, 2, true);
    const x = randn(xs);
    const f = randn(fs);
    const dy = randn(ys);
    await tf.setBackend('cpu');
    const fwd = (xv: Float32Array, xShape: number[], fv: Float32Array) =>
      tf.tidy(() => tf.depthwiseConv2d(tf.tensor4d(xv, xShape as [number, number, number, number]), tf.tensor4d(fv, fs as [number, number, number, number]), 1, pad, 'NHWC', 2).dataSync() as Float32Array);
    const dot = (a: Float32Array, off: number, b: Float32Array) => {
      let acc = 0;
      for (let i = 0; i < b.length; i++) acc += a[off + i] * b[i];
      return acc;
    };
    // dW reference
    const nf = f.values.length;
    const dWRef = new Float32Array(nf);
    for (let k = 0; k < nf; k++) {
      const e = new Float32Array(nf);
      e[k] = 1;
      dWRef[k] = dot(fwd(x.values, xs, e), 0, dy.values);
    }
    // dx reference: every unit image of one sample at once, as a batch
    const per = xs[1] * xs[2] * xs[3];
    const units = new Float32Array(per * per);
    for (let i = 0; i < per; i++) units[i * per + i] = 1;
    const yUnits = fwd(units, [per, xs[1], xs[2], xs[3]], f.values); // [per, OH, OW, C·M]
    const perY = ys[1] * ys[2] * ys[3];
    const dxRef = new Float32Array(B * per);
    for (let b = 0; b < B; b++) {
      const dyb = dy.values.subarray(b * perY, (b + 1) * perY);
      for (let i = 0; i < per; i++) dxRef[b * per + i] = dot(yUnits, i * perY, dyb);
    }
    const dW = await runOn('wasm', 'DepthwiseConv2dNativeBackpropFilter', { x, dy }, { strides: 1, pad, dilations: 2, filterShape: fs });
    const dx = await runOn('wasm', 'DepthwiseConv2dNativeBackpropInput', { dy, filter: f }, { strides: 1, pad, dilations: 2, inputShape: xs });
    expect(relErr(dW.values, dWRef)).toBeLessThan(1e-4);
    expect(relErr(dx.values, dxRef)).toBeLessThan(1e-4);
  });
});

describe('UnsortedSegmentSum (wasm) vs cpu', () => {
  it('sums rows with repeated ids, rank 2 and 3', async () => {
    const ids = Int32Array.from([2, 0, 2, 4, 0, 2]);
    for (const inner of [[3], [2, 3]]) {
      const x = randn([6, ...inner]);
      const err = await compare('UnsortedSegmentSum', { x, segmentIds: { values: ids, shape: [6], dtype: 'int32' } }, { numSegments: 5 });
      expect(err).toBeLessThan(1e-6);
    }
  });
  it('drops out-of-range ids as TensorFlow does', async () => {
    const ids = Int32Array.from([-1, 1, 3, 1]);
    const x = randn([4, 2]);
    const inputs: Inputs = { x, segmentIds: { values: ids, shape: [4], dtype: 'int32' } };
    const wasm = await runOn('wasm', 'UnsortedSegmentSum', inputs, { numSegments: 3 });
    expect(wasm.shape).toEqual([3, 2]);
    const v = x.values;
    const want = [0, 0, v[2] + v[6], v[3] + v[7], 0, 0];
    for (let i = 0; i < 6; i++) expect(wasm.values[i]).toBeCloseTo(want[i], 5);
  });
  it('int32 values', async () => {
    const x = { values: Int32Array.from([1, 2, 3, 4, 5, 6]), shape: [3, 2], dtype: 'int32' as const };
    const wasm = await runOn('wasm', 'UnsortedSegmentSum', { x, segmentIds: { values: Int32Array.from([1, 1, 0]), shape: [3], dtype: 'int32' } }, { numSegments: 2 });
    expect(Array.from(wasm.values)).toEqual([5, 6, 4, 6]);
  });
  it('gives the gradient of tf.gather (embedding lookup) on wasm', async () => {
    await tf.setBackend('wasm');
    const table = tf.variable(tf.tensor2d(rng.normalArray(12), [4, 3]));
    const idx = tf.tensor1d([3, 1, 3, 0], 'int32');
    const { grads } = tf.variableGrads(() => tf.sum(tf.gather(table, idx)), [table]);
    expect(Array.from(grads[table.name].dataSync())).toEqual([1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2]);
    tf.dispose([table, idx, grads[table.name]]);
  });
});

describe('kernel memory', () => {
  it('frees every temporary (tensors and wasm buffers flat)', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(rng.normalArray(2 * 7 * 7 * 3), [2, 7, 7, 3]);
    const f = tf.tensor4d(rng.normalArray(3 * 3 * 3 * 4), [3, 3, 3, 4]);
    const dw = tf.tensor4d(rng.normalArray(3 * 3 * 3 * 2), [3, 3, 3, 2]);
    const ids = tf.tensor1d([0, 1, 1], 'int32');
    expectNoLeakedTensors(() => {
      tf.tidy(() => {
        tf.grad((xx: tf.Tensor) => tf.sum(tf.conv2d(xx as tf.Tensor4D, f, 2, 'same')))(x);
        tf.grad((ff: tf.Tensor) => tf.sum(tf.conv2d(x, ff as tf.Tensor4D, 2, [[0, 0], [1, 1], [1, 1], [0, 0]])))(f);
        tf.grads((xx: tf.Tensor, ff: tf.Tensor) => tf.sum(tf.depthwiseConv2d(xx as tf.Tensor4D, ff as tf.Tensor4D, 1, 'same')))([x, dw]);
        tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, ids)))(x.reshape([2, 147]));
      });
    });
    tf.dispose([x, f, dw, ids]);
  });
});

describe('Slice / SplitV / Tile (wasm, fast paths) vs cpu', () => {
  const sliceCases: Array<{ shape: number[]; begin: number[]; size: number[] }> = [
    { shape: [1000], begin: [17], size: [400] },
    { shape: [6, 5], begin: [1, 0], size: [3, 5] },
    { shape: [6, 5], begin: [1, 2], size: [4, 2] },
    { shape: [3, 4, 5], begin: [1, 1, 0], size: [2, 2, 5] },
    { shape: [2, 3, 4, 5], begin: [0, 1, 1, 2], size: [2, 2, 3, 3] },
    { shape: [2, 3, 4, 5, 2], begin: [1, 0, 2, 1, 0], size: [1, 3, 2, 4, 2] },
    { shape: [4, 3], begin: [2, 0], size: [0, 3] },
  ];
  it.each(sliceCases)('slice $shape at $begin size $size', async ({ shape, begin, size }) => {
    const x = randn(shape);
    const cpu = await runOn('cpu', 'Slice', { x }, { begin, size });
    const wasm = await runOn('wasm', 'Slice', { x }, { begin, size });
    expect(wasm.shape).toEqual(cpu.shape);
    expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
  });
  it('slices int32 and bool, and splits a flat buffer into many pieces', async () => {
    const xi = { values: Int32Array.from({ length: 24 }, (_, i) => i - 7), shape: [4, 6], dtype: 'int32' as const };
    expect(Array.from((await runOn('wasm', 'Slice', { x: xi }, { begin: [1, 2], size: [2, 3] })).values)).toEqual([1, 2, 3, 7, 8, 9]);
    await tf.setBackend('wasm');
    const b = tf.tensor([true, false, true, true], [2, 2], 'bool');
    expect(Array.from(tf.slice(b, [1, 0], [1, 2]).dataSync())).toEqual([1, 1]);
    b.dispose();
    const sizes = [5, 1, 30, 7, 57];
    const flat = randn([100]);
    const pieces = tf.tidy(() => tf.split(tf.tensor1d(flat.values), sizes, 0).map((t) => Array.from(t.dataSync())));
    let off = 0;
    sizes.forEach((n, i) => {
      expect(pieces[i]).toEqual(Array.from(flat.values.subarray(off, off + n)));
      off += n;
    });
    const parts = tf.tidy(() => tf.split(tf.tensor2d(flat.values, [10, 10]), [3, 7], 1).map((t) => t.shape));
    expect(parts).toEqual([[10, 3], [10, 7]]);
  });
  const tileCases: Array<{ shape: number[]; reps: number[] }> = [
    { shape: [3], reps: [4] },
    { shape: [2, 1, 3], reps: [1, 5, 1] },
    { shape: [2, 3], reps: [2, 3] },
    { shape: [64, 8, 1, 4], reps: [1, 1, 2, 1] },
    { shape: [2, 1, 3, 1], reps: [3, 2, 2, 4] },
  ];
  it.each(tileCases)('tile $shape by $reps', async ({ shape, reps }) => {
    const x = randn(shape);
    const cpu = await runOn('cpu', 'Tile', { x }, { reps });
    const wasm = await runOn('wasm', 'Tile', { x }, { reps });
    expect(wasm.shape).toEqual(cpu.shape);
    expect(Array.from(wasm.values)).toEqual(Array.from(cpu.values));
  });
  it('tiles int32, bool, and broadcastTo with its gradient', async () => {
    const xi = { values: Int32Array.from([1, -2, 3]), shape: [3, 1], dtype: 'int32' as const };
    expect(Array.from((await runOn('wasm', 'Tile', { x: xi }, { reps: [2, 2] })).values)).toEqual([1, 1, -2, -2, 3, 3, 1, 1, -2, -2, 3, 3]);
    await tf.setBackend('wasm');
    const b = tf.tensor([true, false], [2], 'bool');
    expect(Array.from(tf.tile(b, [2]).dataSync())).toEqual([1, 0, 1, 0]);
    const w = tf.where(tf.scalar(true, 'bool'), tf.ones([5]), tf.zeros([5]));
    expect(Array.from(w.dataSync())).toEqual([1, 1, 1, 1, 1]);
    expect(tf.tile(tf.tensor([false, true], [2, 1], 'bool'), [1, 3]).dtype).toBe('bool');
    expect(Array.from(tf.tile(tf.tensor([false, true], [2, 1], 'bool'), [1, 3]).dataSync())).toEqual([0, 0, 0, 1, 1, 1]);
    w.dispose();
    b.dispose();
    const g = tf.tidy(() => tf.grad((v: tf.Tensor) => tf.sum(tf.mul(tf.broadcastTo(v, [4, 3, 2]), tf.range(0, 24).reshape([4, 3, 2]))))(tf.ones([3, 1])).dataSync());
    // d/dv[j] = Σ_{i,k} (6i + 2j + k) = 4·(2j·2 + 1) + 2·6·(0+1+2+3) = 16j + 76
    expect(Array.from(g)).toEqual([76, 92, 108]);
  });
});

describe('BatchMatMul / _FusedMatMul with large transposed operands (wasm) vs cpu', () => {
  const cases = [
    { a: [96, 64], b: [96, 48], tA: true, tB: false },
    { a: [64, 80], b: [70, 80], tA: false, tB: true },
    { a: [2, 90, 50], b: [2, 60, 90], tA: true, tB: true },
    { a: [3, 4], b: [5, 4], tA: false, tB: true }, // small: stock path
  ];
  it.each(cases)('matMul a=$a b=$b transposeA=$tA transposeB=$tB', async ({ a, b, tA, tB }) => {
    const av = randn(a);
    const bv = randn(b);
    const err = await compare('BatchMatMul', { a: av, b: bv }, { transposeA: tA, transposeB: tB });
    expect(err).toBeLessThan(1e-5);
  });
  it('fused matMul with bias and relu, transposed operands', async () => {
    const a = randn([100, 64]);
    const b = randn([72, 100]);
    const bias = randn([72]);
    const res: Record<string, Float32Array> = {};
    for (const be of ['cpu', 'wasm'] as const) {
      await tf.setBackend(be);
      res[be] = tf.tidy(
        () =>
          tf.fused
            .matMul({ a: tf.tensor2d(a.values, [100, 64]), b: tf.tensor2d(b.values, [72, 100]), transposeA: true, transposeB: true, bias: tf.tensor1d(bias.values), activation: 'relu' })
            .dataSync() as Float32Array,
      );
    }
    expect(relErr(res.wasm, res.cpu)).toBeLessThan(1e-5);
  });
});

describe('Identity (wasm): shared data, reference-counted', () => {
  it('clones share data safely: disposing either side keeps the other, variables still update', async () => {
    await tf.setBackend('wasm');
    const buffersBefore = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
    const a = tf.tensor1d([1, 2, 3]);
    const b = a.clone();
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(buffersBefore + 1);
    a.dispose();
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    const v = tf.variable(b);
    const nv = tf.tensor1d([4, 5, 6]);
    v.assign(nv);
    expect(Array.from(b.dataSync())).toEqual([1, 2, 3]);
    expect(Array.from(v.dataSync())).toEqual([4, 5, 6]);
    tf.dispose([b, v, nv]);
    expect((tf.backend() as unknown as { numDataIds(): number }).numDataIds()).toBe(buffersBefore);
    const s = tf.tensor(['x', 'y']);
    expect(s.clone().arraySync()).toEqual(['x', 'y']);
  });
});

describe('Sum / Mean over leading or middle axes (wasm, average pooling) vs cpu', () => {
  // view: the [outer, R, inner] pooling view, or null where the stock kernel runs
  const cases = [
    { shape: [8, 16, 16, 32], axis: [0, 1, 2], keepDims: false, view: [1, 2048, 32] }, // a conv's bias gradient
    { shape: [8, 16, 16, 32], axis: [1, 2], keepDims: false, view: [8, 256, 32] }, // spatial sums per sample
    { shape: [8, 16, 16, 32], axis: [2, 1], keepDims: true, view: [8, 256, 32] }, // unsorted axes, kept dims
    { shape: [6, 5, 7], axis: [0], keepDims: false, view: [1, 6, 35] },
    { shape: [3, 4, 5, 6, 2], axis: [1, 2, 3], keepDims: true, view: [3, 120, 2] },
    { shape: [2048, 3], axis: [-2], keepDims: false, view: [1, 2048, 3] }, // negative axis
    { shape: [4, 5, 6], axis: [0, 2], keepDims: false, view: null }, // not contiguous: stock kernel
    { shape: [4, 5, 6], axis: [1, 2], keepDims: false, view: null }, // innermost: stock kernel
    { shape: [1, 5, 6], axis: [0], keepDims: false, view: null }, // one-element block: stock kernel
  ];
  for (const name of ['Sum', 'Mean'] as const) {
    it.each(cases)(`${name} $shape over $axis keepDims=$keepDims`, async ({ shape, axis, keepDims, view }) => {
      expect(pooledReduceView(shape, axis)).toEqual(view);
      const x = randn(shape);
      const cpu = await runOn('cpu', name, { x }, { axis, keepDims });
      const wasm = await runOn('wasm', name, { x }, { axis, keepDims });
      expect(wasm.shape).toEqual(cpu.shape);
      expect(relErr(wasm.values, cpu.values)).toBeLessThan(1e-5);
    });
  }

  it('int32 and bool inputs keep the stock kernel (exact integer sums)', async () => {
    const xi = { values: Int32Array.from([1, 2, 3, 4, 5, 6]), shape: [3, 2], dtype: 'int32' as const };
    const r = await runOn('wasm', 'Sum', { x: xi }, { axis: [0], keepDims: false });
    expect(Array.from(r.values)).toEqual([9, 12]);
    await tf.setBackend('wasm');
    expect(tf.tidy(() => Array.from(tf.sum(tf.tensor2d([[true, false], [true, true]]), 0).dataSync()))).toEqual([2, 1]);
  });

  it('gives the bias gradient of a fused conv, and frees its temporaries', async () => {
    await tf.setBackend('wasm');
    const x = tf.tensor4d(randn([2, 6, 6, 3]).values, [2, 6, 6, 3]);
    const w = tf.tensor4d(randn([3, 3, 3, 4]).values, [3, 3, 3, 4]);
    const bias = tf.tensor1d([0.1, -0.2, 0.3, 0]);
    const before = tf.memory().numTensors;
    const gw = tf.tidy(() => tf.grad((bb: tf.Tensor) => tf.sum(tf.square(tf.fused.conv2d({ x, filter: w, bias: bb, strides: 1, pad: 'same', activation: 'relu' }))))(bias).dataSync().slice());
    expect(tf.memory().numTensors).toBe(before);
    const [xs, ws, bs] = [x.dataSync().slice(), w.dataSync().slice(), bias.dataSync().slice()];
    await tf.setBackend('cpu');
    const gc = tf.tidy(() => {
      const [xc, wc, bc] = [tf.tensor4d(xs, [2, 6, 6, 3]), tf.tensor4d(ws, [3, 3, 3, 4]), tf.tensor1d(bs)];
      return tf.grad((bb: tf.Tensor) => tf.sum(tf.square(tf.fused.conv2d({ x: xc, filter: wc, bias: bb, strides: 1, pad: 'same', activation: 'relu' }))))(bc).dataSync().slice();
    });
    expect(relErr(gw, gc)).toBeLessThan(1e-5);
    await tf.setBackend('wasm');
    tf.dispose([x, w, bias]);
  });
});
