/**
 * Registers prefkit's gradient kernels on the wasm backend (idempotent).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { makeConv2DBackpropFilter, makeConv2DBackpropInput } from './conv2d-backprop.js';
import { makeDepthwiseConv2dNativeBackpropFilter, makeDepthwiseConv2dNativeBackpropInput } from './depthwise-backprop.js';
import { makeUnsortedSegmentSum } from './unsorted-segment-sum.js';
import { makeIdentity, makeMatMul, makePooledReduce, makeSlice, makeSplitV, makeTile } from './fast-ops.js';

/** The kernel names {@link registerWasmKernels} installs for the wasm backend. */
export const WASM_GRADIENT_KERNELS = [
  'Conv2DBackpropFilter',
  'Conv2DBackpropInput',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
  'UnsortedSegmentSum',
  'Slice',
  'SplitV',
  'Tile',
  'BatchMatMul',
  '_FusedMatMul',
  'Identity',
  'Sum',
  'Mean',
] as const;

/** One of {@link WASM_GRADIENT_KERNELS}. */
export type WasmGradientKernel = (typeof WASM_GRADIENT_KERNELS)[number];

const MARK = Symbol.for('prefkit.kernel');

/**
 * Kernels to leave as tfjs-backend-wasm ships them, from env `PREFKIT_WASM_STOCK_KERNELS`
 * (comma-separated names; for A/B benchmarks). Kernels the stock backend lacks are always installed.
 */
function keepStock(): Set<string> {
  return new Set((process.env.PREFKIT_WASM_STOCK_KERNELS ?? '').split(',').map((x) => x.trim()).filter(Boolean));
}

function install(kernelName: string, kernelFunc: (args: never) => tf.TensorInfo | tf.TensorInfo[]): void {
  if (keepStock().has(kernelName) && tf.getKernel(kernelName, 'wasm') != null) return;
  const existing = tf.getKernel(kernelName, 'wasm') as (tf.KernelConfig & { [MARK]?: true }) | undefined;
  if (existing && existing[MARK]) return;
  if (existing) tf.unregisterKernel(kernelName, 'wasm');
  // keep the stock kernel's setup (its wasm function bindings): our kernels may fall back to it
  const cfg = {
    kernelName,
    backendName: 'wasm',
    kernelFunc: kernelFunc as unknown as tf.KernelFunc,
    setupFunc: existing?.setupFunc,
    disposeFunc: existing?.disposeFunc,
    [MARK]: true as const,
  };
  tf.registerKernel(cfg);
}

/**
 * Install, for the `wasm` backend, the gradient kernels tfjs-backend-wasm 4.22 lacks
 * (`Conv2DBackpropFilter`, `DepthwiseConv2dNativeBackpropFilter`,
 * `DepthwiseConv2dNativeBackpropInput`, `UnsortedSegmentSum`), a fast `Conv2DBackpropInput`
 * (one XNNPACK conv instead of the stock scalar loop), and faster `Slice`, `SplitV`, `Tile`
 * (no whole-input copy per slice; tile as a broadcasting multiply) and matmuls with large
 * transposed operands (explicit transpose first), and `Sum`/`Mean` over leading or middle axes as
 * an average pooling. Each is built from existing
 * wasm kernels. Safe to call repeatedly; {@link initEngine} calls it.
 *
 * Requires `@tensorflow/tfjs-backend-wasm` to have been imported (its kernels are looked up).
 * @returns the kernel names now provided by prefkit (env `PREFKIT_WASM_STOCK_KERNELS` keeps
 *   named stock kernels, for A/B benchmarks).
 */
export function registerWasmKernels(): readonly WasmGradientKernel[] {
  install('Conv2DBackpropFilter', makeConv2DBackpropFilter('wasm'));
  install('Conv2DBackpropInput', makeConv2DBackpropInput('wasm'));
  install('DepthwiseConv2dNativeBackpropFilter', makeDepthwiseConv2dNativeBackpropFilter('wasm'));
  install('DepthwiseConv2dNativeBackpropInput', makeDepthwiseConv2dNativeBackpropInput('wasm'));
  install('UnsortedSegmentSum', makeUnsortedSegmentSum('wasm'));
  // data movement the stock wasm backend does slowly (see fast-ops.ts)
  install('Slice', makeSlice());
  install('SplitV', makeSplitV());
  install('Tile', makeTile());
  install('BatchMatMul', makeMatMul('BatchMatMul'));
  install('_FusedMatMul', makeMatMul('_FusedMatMul'));
  install('Identity', makeIdentity());
  install('Sum', makePooledReduce('Sum'));
  install('Mean', makePooledReduce('Mean'));
  return WASM_GRADIENT_KERNELS.filter((n) => (tf.getKernel(n, 'wasm') as { [MARK]?: true } | undefined)?.[MARK] === true);
}
