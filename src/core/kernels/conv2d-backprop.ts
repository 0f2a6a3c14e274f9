/**
 * Conv2D gradients for the wasm backend as single XNNPACK convolutions.
 *
 * - `Conv2DBackpropFilter` (missing from tfjs-backend-wasm 4.22): the filter gradient
 *   `dW[kh,kw,ci,co] = Σ_{b,oh,ow} xpad[b, oh·sh+kh, ow·sw+kw, ci] · dy[b,oh,ow,co]` is a VALID
 *   convolution of `xpad` transposed to `[Ci, Hp, Wp, B]` (batch = Ci, channels = B) with `dy`
 *   transposed to `[OH, OW, B, Co]` as the filter, at dilation = the forward stride; the result
 *   `[Ci, KH, KW, Co]` is transposed back to `[KH, KW, Ci, Co]`.
 * - `Conv2DBackpropInput` (tfjs-backend-wasm's own is a scalar C++ loop, ~2.4 GFLOP/s): the
 *   input gradient is the full correlation of `dy` (zero-inserted for strides > 1) with the
 *   spatially flipped filter whose in/out channels are swapped, as one XNNPACK conv.
 *
 * @see /work/shared/research/tfjs-engine.md (team research note) for the measurements.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { Scratch, assertNhwc, flipFilter, pair, type KernelArgs, type KernelBackend, type TensorInfo } from './util.js';

type Shape4 = [number, number, number, number];

/**
 * Zero-insert `dy` `[B, OH, OW, C]` for strides `(sh, sw)`: `[B, OH·sh, OW·sw, C]`, with
 * `dy[b,i,j]` at `(i·sh, j·sw)` and zeros elsewhere (including `sh-1` trailing rows).
 */
export function zeroInsert(s: Scratch, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  if (sh === 1 && sw === 1) return dy;
  const [B, OH, OW, C] = dy.shape;
  const r6 = s.reshape(dy, [B, OH, 1, OW, 1, C]);
  const p6 = s.run('PadV2', { x: r6 }, { paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
  return s.reshape(p6, [B, OH * sh, OW * sw, C]);
}

/**
 * Build the kernelFunc of `Conv2DBackpropFilter` for `backendName` (needs its Transpose, PadV2,
 * Slice and Conv2D kernels).
 * @param backendName - 'wasm' normally; any backend with those kernels works.
 */
export function makeConv2DBackpropFilter(backendName = 'wasm') {
  return function conv2DBackpropFilter({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo {
    const x = inputs.x as TensorInfo;
    const dy = inputs.dy as TensorInfo;
    assertNhwc(attrs.dataFormat, 'Conv2DBackpropFilter');
    const filterShape = attrs.filterShape as Shape4;
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filterShape,
      attrs.strides as number | [number, number],
      1,
      attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
      false,
      'channelsLast',
    );
    const { inHeight: H, inWidth: W, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, padInfo } = info;
    const b = backend as KernelBackend;
    const s = new Scratch(b, backendName);
    try {
      if (bpfVariant() === 'mm1' && KH === 1 && KW === 1 && sh === 1 && sw === 1 && OH === H && OW === W && padInfo.top === 0 && padInfo.left === 0) {
        // 1×1, stride 1, no padding: dW[ci, co] = Σ_n x[n, ci] · dy[n, co], one matmul
        const B = x.shape[0];
        const N = B * H * W;
        const Ci = x.shape[3];
        const Co = dy.shape[3];
        const xT = s.transpose(s.reshape(x, [1, N, Ci]), [0, 2, 1]); // [1, Ci, N]
        const r = s.run('BatchMatMul', { a: xT, b: s.reshape(dy, [1, N, Co]) }, { transposeA: false, transposeB: false }); // [1, Ci, Co]
        return s.final('Reshape', { x: r }, { shape: [1, 1, Ci, Co] });
      }
      if (bpfVariant() === 'unfold' && KW > 1 && b.makeOutput && b.typedArrayFromHeap && x.dtype === 'float32') {
        const Hn = (OH - 1) * sh + KH;
        const t0 = performance.now();
        const xct = s.transpose(x, [3, 0, 1, 2]); // [Ci, B, H, W]
        const xu = s.track(unfoldWidth(b, xct, Hn, KW, OW, sw, padInfo.top, padInfo.left)); // [Ci, Hn, KW, B·OW]
        (globalThis as any).__unf = ((globalThis as any).__unf ?? 0) + performance.now() - t0;
        const B = x.shape[0];
        const dyt = s.transpose(dy, [1, 0, 2, 3]); // [OH, B, OW, Co]
        const dyu = s.reshape(dyt, [OH, 1, B * OW, dy.shape[3]]);
        const r = s.run('Conv2D', { x: xu, filter: dyu }, { strides: [1, 1], pad: 'valid', dilations: [sh, 1], dataFormat: 'NHWC' }); // [Ci, KH, KW, Co]
        return s.final('Transpose', { x: r }, { perm: [1, 2, 0, 3] });
      }
      let xt = s.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, B]
      // exact extent the dilated "filter" covers: (OH-1)·sh + KH rows
      const Hn = (OH - 1) * sh + KH;
      const Wn = (OW - 1) * sw + KW;
      xt = s.padOrCrop(xt, [
        [0, 0],
        [padInfo.top, Hn - H - padInfo.top],
        [padInfo.left, Wn - W - padInfo.left],
        [0, 0],
      ]);
      const dyt = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
      const r = s.run('Conv2D', { x: xt, filter: dyt }, { strides: [1, 1], pad: 'valid', dilations: [sh, sw], dataFormat: 'NHWC' }); // [Ci, KH, KW, Co]
      return s.final('Transpose', { x: r }, { perm: [1, 2, 0, 3] }); // [KH, KW, Ci, Co]
    } finally {
      s.dispose();
    }
  };
}

/** Filter-gradient formulation, env `PREFKIT_BPF` ('conv' or 'unfold'); read per call for A/B runs. */
function bpfVariant(): string {
  return process.env.PREFKIT_BPF ?? 'conv';
}

/**
 * Width-unfold `x` `[B, H, W, Ci]` into `[Ci, Hn, KW, B·OW]`:
 * `u[ci, hp, kw, b·OW + ow] = x[b, hp - top, ow·sw + kw - left, ci]` (zero outside `x`), so the
 * filter gradient is a conv with `OH` taps over `B·OW` channels instead of `OH·OW` taps over `B`.
 */
function unfoldWidth(backend: KernelBackend, xt: TensorInfo, Hn: number, KW: number, OW: number, sw: number, top: number, left: number): TensorInfo {
  // xt: x transposed to [Ci, B, H, W] (rows contiguous along W)
  const [Ci, B, H, W] = xt.shape;
  const BO = B * OW;
  const out = backend.makeOutput!([Ci, Hn, KW, BO], 'float32');
  const xs = backend.typedArrayFromHeap!(xt) as Float32Array;
  const u = backend.typedArrayFromHeap!(out) as Float32Array;
  u.fill(0);
  const rowU = KW * BO;
  for (let ci = 0; ci < Ci; ci++) {
    const uPlane = ci * Hn * rowU;
    for (let hp = 0; hp < Hn; hp++) {
      const h = hp - top;
      if (h < 0 || h >= H) continue;
      for (let kw = 0; kw < KW; kw++) {
        // valid ow: 0 <= ow·sw + kw - left < W
        const off = kw - left;
        const ow0 = off >= 0 ? 0 : Math.ceil(-off / sw);
        const ow1 = Math.min(OW, Math.floor((W - 1 - off) / sw) + 1);
        if (ow1 <= ow0) continue;
        let dstB = uPlane + hp * rowU + kw * BO;
        let srcB = ((ci * B) * H + h) * W + off;
        for (let bb = 0; bb < B; bb++, dstB += OW, srcB += H * W) {
          for (let ow = ow0; ow < ow1; ow++) u[dstB + ow] = xs[srcB + ow * sw];
        }
      }
    }
  }
  return out;
}

/**
 * Build the kernelFunc of `Conv2DBackpropInput` for the wasm backend: one XNNPACK conv2d of
 * the (zero-inserted, padded) `dy` with the flipped, channel-swapped filter. Also serves
 * `tf.conv2dTranspose`.
 */
export function makeConv2DBackpropInput(backendName = 'wasm') {
  return function conv2DBackpropInput({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo {
    const dy = inputs.dy as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    assertNhwc(attrs.dataFormat, 'Conv2DBackpropInput');
    const inputShape = attrs.inputShape as Shape4;
    const [dh, dw] = pair(attrs.dilations, 1);
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as Shape4,
      attrs.strides as number | [number, number],
      [dh, dw],
      attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
      attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
      false,
      'channelsLast',
    );
    const { inHeight: H, inWidth: W, inChannels: Ci, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, padInfo } = info;
    const b = backend as KernelBackend;
    const s = new Scratch(b, backendName);
    try {
      const ft = s.track(flipFilter(b, filter, true)); // [KH, KW, Co, Ci]
      let d = zeroInsert(s, dy, sh, sw); // [B, Hd, Wd, Co]
      const Hd = d.shape[1];
      const Wd = d.shape[2];
      // dx[ih] = Σ_k D[ih + padTop - k·dh] W[k]: a valid correlation with the flipped filter
      // once D is shifted by T = (KH-1)·dh - padTop and extended to H + (KH-1)·dh rows.
      const top = (KH - 1) * dh - padInfo.top;
      const left = (KW - 1) * dw - padInfo.left;
      d = s.padOrCrop(d, [
        [0, 0],
        [top, H + (KH - 1) * dh - top - Hd],
        [left, W + (KW - 1) * dw - left - Wd],
        [0, 0],
      ]);
      const out = s.final('Conv2D', { x: d, filter: ft }, { strides: [1, 1], pad: 'valid', dilations: [dh, dw], dataFormat: 'NHWC' });
      if (out.shape[1] !== H || out.shape[2] !== W || out.shape[3] !== Ci) {
        b.disposeData(out.dataId);
        throw new Error(`prefkit Conv2DBackpropInput (wasm): internal shape [${out.shape}] != [${inputShape}].`);
      }
      return out;
    } finally {
      s.dispose();
    }
  };
}
