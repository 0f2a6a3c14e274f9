/**
 * Depthwise conv2d gradients for the wasm backend (missing from tfjs-backend-wasm 4.22),
 * built from its XNNPACK `DepthwiseConv2dNative`, Transpose, PadV2, Slice, Reshape and Sum.
 *
 * Filter `[KH, KW, C, M]` (M = channel multiplier), `dy` `[B, OH, OW, C·M]`, channel `c·M + m`.
 * - input gradient: the depthwise correlation of the zero-inserted `dy` with the spatially
 *   flipped filter (`[KH, KW, C·M, 1]`), then a sum over `m`;
 * - filter gradient: `dW[kh,kw,c,m] = Σ_{b,oh,ow} xpad[b, oh·sh + kh·dh, ow·sw + kw·dw, c] ·
 *   dy[b,oh,ow,c·M+m]` is one depthwise conv of `xpad` laid out as `[1, Hp, Wp, B·C]` with
 *   `dy` laid out as the filter `[OH, OW, B·C, M]` (stride = forward dilation, dilation =
 *   forward stride), then a sum over `b`.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { Scratch, flipFilter, pair, type KernelArgs, type KernelBackend, type TensorInfo } from './util.js';
import { zeroInsert } from './conv2d-backprop.js';

type Shape4 = [number, number, number, number];

function convInfo(xShape: Shape4, filterShape: Shape4, attrs: tf.NamedAttrMap) {
  return tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    attrs.strides as number | [number, number],
    pair(attrs.dilations, 1),
    attrs.pad as 'same' | 'valid' | number | tf.backend_util.ExplicitPadding,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
    true,
  );
}

/** kernelFunc of `DepthwiseConv2dNativeBackpropInput` for `backendName` (default 'wasm'). */
export function makeDepthwiseConv2dNativeBackpropInput(backendName = 'wasm') {
  return function depthwiseBackpropInput({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo {
    const dy = inputs.dy as TensorInfo;
    const filter = inputs.filter as TensorInfo;
    const inputShape = attrs.inputShape as Shape4;
    const info = convInfo(inputShape, filter.shape as Shape4, attrs);
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
    const M = filter.shape[3];
    const b = backend as KernelBackend;
    const s = new Scratch(b, backendName);
    try {
      const ff = s.track(flipFilter(b, filter, false)); // [KH, KW, C, M] flipped
      const f1 = s.reshape(ff, [KH, KW, C * M, 1]);
      let d = zeroInsert(s, dy, sh, sw);
      const top = (KH - 1) * dh - padInfo.top;
      const left = (KW - 1) * dw - padInfo.left;
      d = s.padOrCrop(d, [
        [0, 0],
        [top, H + (KH - 1) * dh - top - d.shape[1]],
        [left, W + (KW - 1) * dw - left - d.shape[2]],
        [0, 0],
      ]);
      const attrsDw = { strides: [1, 1], pad: 'valid', dilations: [dh, dw] };
      if (M === 1) return s.final('DepthwiseConv2dNative', { x: d, filter: f1 }, attrsDw);
      const y = s.run('DepthwiseConv2dNative', { x: d, filter: f1 }, attrsDw); // [B, H, W, C·M]
      const y5 = s.reshape(y, [B, H, W, C, M]);
      return s.final('Sum', { x: y5 }, { axis: [4], keepDims: false }); // [B, H, W, C]
    } finally {
      s.dispose();
    }
  };
}

/** kernelFunc of `DepthwiseConv2dNativeBackpropFilter` for `backendName` (default 'wasm'). */
export function makeDepthwiseConv2dNativeBackpropFilter(backendName = 'wasm') {
  return function depthwiseBackpropFilter({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo {
    const x = inputs.x as TensorInfo;
    const dy = inputs.dy as TensorInfo;
    const filterShape = attrs.filterShape as Shape4;
    const info = convInfo(x.shape as Shape4, filterShape, attrs);
    const { batchSize: B, inHeight: H, inWidth: W, inChannels: C, outHeight: OH, outWidth: OW, filterHeight: KH, filterWidth: KW, strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw, padInfo } = info;
    const M = filterShape[3];
    const s = new Scratch(backend as KernelBackend, backendName);
    try {
      let xt = B === 1 ? x : s.transpose(x, [1, 2, 0, 3]); // [H, W, B, C]
      xt = s.reshape(xt, [1, H, W, B * C]);
      const Hn = (OH - 1) * sh + (KH - 1) * dh + 1;
      const Wn = (OW - 1) * sw + (KW - 1) * dw + 1;
      xt = s.padOrCrop(xt, [
        [0, 0],
        [padInfo.top, Hn - H - padInfo.top],
        [padInfo.left, Wn - W - padInfo.left],
        [0, 0],
      ]);
      let dyt = B === 1 ? dy : s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, C·M]
      dyt = s.reshape(dyt, [OH, OW, B * C, M]);
      const r = s.run('DepthwiseConv2dNative', { x: xt, filter: dyt }, { strides: [dh, dw], pad: 'valid', dilations: [sh, sw] }); // [1, KH, KW, B·C·M]
      if (r.shape[1] !== KH || r.shape[2] !== KW) throw new Error(`prefkit DepthwiseConv2dNativeBackpropFilter (wasm): internal shape [${r.shape}].`);
      if (B === 1) return s.final('Reshape', { x: r }, { shape: [KH, KW, C, M] });
      const r4 = s.reshape(r, [KH, KW, B, C * M]);
      const sum = s.run('Sum', { x: r4 }, { axis: [2], keepDims: false }); // [KH, KW, C·M]
      return s.final('Reshape', { x: sum }, { shape: [KH, KW, C, M] });
    } finally {
      s.dispose();
    }
  };
}
