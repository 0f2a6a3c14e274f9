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
 * - Zero borders in both are the conv's own explicit padding (XNNPACK points its indirection
 *   buffer at a zero row), not a padded copy of the input.
 *
 * @see ../shared/research/tfjs-engine.md (team research note) for the measurements.
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
 * Crop (negative amounts) with a Slice kernel and return the positive amounts as an explicit conv
 * padding `[[0, 0], [top, bottom], [left, right], [0, 0]]`, which XNNPACK applies through its
 * indirection buffer instead of a padded copy of the input. `amounts[d] = [before, after]` for an
 * NHWC tensor; batch and channel amounts must be 0.
 */
function cropThenPad(s: Scratch, x: TensorInfo, amounts: Array<[number, number]>): [TensorInfo, tf.backend_util.ExplicitPadding] {
  const cropped = s.padOrCrop(
    x,
    amounts.map(([a, b]) => [Math.min(a, 0), Math.min(b, 0)]),
  );
  const pads = amounts.map(([a, b]) => [Math.max(a, 0), Math.max(b, 0)]) as tf.backend_util.ExplicitPadding;
  return [cropped, pads];
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
    const s = new Scratch(backend as KernelBackend, backendName);
    try {
      const xt = s.transpose(x, [3, 1, 2, 0]); // [Ci, H, W, B]
      // exact extent the dilated "filter" covers: (OH-1)·sh + KH rows
      const Hn = (OH - 1) * sh + KH;
      const Wn = (OW - 1) * sw + KW;
      // crop what the dilated "filter" never reaches; the zero border goes to the conv's own padding
      const [xc, pads] = cropThenPad(s, xt, [
        [0, 0],
        [padInfo.top, Hn - H - padInfo.top],
        [padInfo.left, Wn - W - padInfo.left],
        [0, 0],
      ]);
      const dyt = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, Co]
      const r = s.run('Conv2D', { x: xc, filter: dyt }, { strides: [1, 1], pad: pads, dilations: [sh, sw], dataFormat: 'NHWC' }); // [Ci, KH, KW, Co]
      return s.final('Transpose', { x: r }, { perm: [1, 2, 0, 3] }); // [KH, KW, Ci, Co]
    } finally {
      s.dispose();
    }
  };
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
      const d = zeroInsert(s, dy, sh, sw); // [B, Hd, Wd, Co]
      const Hd = d.shape[1];
      const Wd = d.shape[2];
      // dx[ih] = Σ_k D[ih + padTop - k·dh] W[k]: a valid correlation with the flipped filter
      // once D is shifted by T = (KH-1)·dh - padTop and extended to H + (KH-1)·dh rows.
      const top = (KH - 1) * dh - padInfo.top;
      const left = (KW - 1) * dw - padInfo.left;
      const [dc, pads] = cropThenPad(s, d, [
        [0, 0],
        [top, H + (KH - 1) * dh - top - Hd],
        [left, W + (KW - 1) * dw - left - Wd],
        [0, 0],
      ]);
      const out = s.final('Conv2D', { x: dc, filter: ft }, { strides: [1, 1], pad: pads, dilations: [dh, dw], dataFormat: 'NHWC' });
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
