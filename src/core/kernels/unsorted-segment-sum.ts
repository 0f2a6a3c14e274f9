/**
 * `UnsortedSegmentSum` for the wasm backend (the gradient of gather, i.e. of embeddings),
 * as one wasm `ScatterNd` (which sums duplicate indices). Ids outside `[0, numSegments)` are
 * dropped, as in TensorFlow: they are routed to an extra segment that is sliced off.
 * @module
 */
import { Scratch, type KernelArgs, type KernelBackend, type TensorInfo } from './util.js';

/** kernelFunc of `UnsortedSegmentSum` for the wasm backend. */
export function makeUnsortedSegmentSum(backendName = 'wasm') {
  return function unsortedSegmentSum({ inputs, backend, attrs = {} }: KernelArgs): TensorInfo {
    const x = inputs.x as TensorInfo;
    const ids = inputs.segmentIds as TensorInfo;
    const S = attrs.numSegments as number;
    const b = backend as KernelBackend;
    if (!b.makeOutput || !b.typedArrayFromHeap) throw new Error('prefkit UnsortedSegmentSum: needs the wasm backend.');
    const n = ids.shape.reduce((a, c) => a * c, 1);
    const inner = x.shape.slice(ids.shape.length);
    const D = inner.reduce((a, c) => a * c, 1);
    const s = new Scratch(b, backendName);
    try {
      // indices [n, 1], int32; out-of-range ids -> segment S (dropped below)
      const idx = s.track(b.makeOutput([n, 1], 'int32'));
      const iv = b.typedArrayFromHeap(idx) as Int32Array;
      const src = b.typedArrayFromHeap(ids);
      let outOfRange = false;
      for (let i = 0; i < n; i++) {
        const v = src[i];
        if (v >= 0 && v < S) iv[i] = v;
        else {
          iv[i] = S;
          outOfRange = true;
        }
      }
      const upd = s.reshape(x, [n, D]);
      const rows = outOfRange ? S + 1 : S;
      if (!outOfRange) {
        const r = s.run('ScatterNd', { indices: idx, updates: upd }, { shape: [rows, D] });
        return s.final('Reshape', { x: r }, { shape: [S, ...inner] });
      }
      const r = s.run('ScatterNd', { indices: idx, updates: upd }, { shape: [rows, D] });
      const cut = s.run('Slice', { x: r }, { begin: [0, 0], size: [S, D] });
      return s.final('Reshape', { x: cut }, { shape: [S, ...inner] });
    } finally {
      s.dispose();
    }
  };
}
