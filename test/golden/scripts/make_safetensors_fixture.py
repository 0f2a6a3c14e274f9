#!/usr/bin/env python3
"""Write test/golden/safetensors-fixture.safetensors and its expected values
(test/golden/safetensors-fixture.json) for test/core/safetensors.test.ts.

The `safetensors` Python package is not installed on the project machine, so the
file is written by hand following the format spec
(https://github.com/huggingface/safetensors, README "Format"):

  8 bytes   little-endian u64 N = header length
  N bytes   UTF-8 JSON header: {"__metadata__": {str: str},
            name: {"dtype": "F32"|"F16"|"BF16"|"I32"|"I64"|..., "shape": [...],
                   "data_offsets": [begin, end]}}   (offsets relative to the data start)
            padded with spaces to a multiple of 8, as the reference writer does
  data      little-endian, row-major

Like the reference writer (safetensors/src/tensor.rs `prepare`), tensors are laid
out sorted by dtype alignment (descending) then name, so the data order differs
from the key order. BF16 bits come from torch (1.13, CPU) `.to(torch.bfloat16)`
(round-to-nearest-even), an independent encoder; F16 from numpy.

Run: /usr/bin/python3 test/golden/scripts/make_safetensors_fixture.py
"""
import json
import os
import struct

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, '..', 'safetensors-fixture.safetensors')
EXPECT = os.path.join(HERE, '..', 'safetensors-fixture.json')

rng = np.random.default_rng(1234)
f32 = rng.standard_normal((2, 3)).astype(np.float32)
f16_src = np.array([0.0, -1.5, 65504.0, 6.1e-5, 3.0e-7, np.inf, -2.0 ** -14, 0.333], dtype=np.float32)
f16 = f16_src.astype(np.float16)
bf16_src = torch.tensor([1.0, -3.14159, 1.0e30, 2.5e-3, -0.0, 65536.5], dtype=torch.float32)
bf16 = bf16_src.to(torch.bfloat16)
bf16_bits = bf16.view(torch.int16).numpy().astype('<i2')
bf16_vals = bf16.to(torch.float32).numpy()
i32 = np.array([[1, -2], [2147483647, -2147483648]], dtype=np.int32)
i64 = np.array([0, -1, 123456789, -2147483648, 2147483647], dtype=np.int64)
scalar = np.array(2.5, dtype=np.float32)
empty = np.zeros((0, 3), dtype=np.float32)
conv = rng.standard_normal((4, 2, 3, 3)).astype(np.float32)  # torch layout [Cout, Cin, kh, kw]

tensors = {
    'down_blocks.0.resnets.0.conv1.weight': ('F32', conv.shape, conv.astype('<f4').tobytes(), conv),
    'f32': ('F32', f32.shape, f32.astype('<f4').tobytes(), f32),
    'f16': ('F16', f16.shape, f16.astype('<f2').tobytes(), f16.astype(np.float32)),
    'bf16': ('BF16', tuple(bf16.shape), bf16_bits.tobytes(), bf16_vals),
    'i32': ('I32', i32.shape, i32.astype('<i4').tobytes(), i32),
    'i64': ('I64', i64.shape, i64.astype('<i8').tobytes(), i64),
    'scalar': ('F32', (), scalar.astype('<f4').tobytes(), scalar),
    'empty': ('F32', empty.shape, b'', empty),
}
ALIGN = {'I64': 8, 'F32': 4, 'I32': 4, 'F16': 2, 'BF16': 2}
order = sorted(tensors, key=lambda k: (-ALIGN[tensors[k][0]], k))
header = {'__metadata__': {'format': 'pt', 'source': 'make_safetensors_fixture.py'}}
blobs = []
off = 0
for k in order:
    dtype, shape, raw, _ = tensors[k]
    header[k] = {'dtype': dtype, 'shape': list(shape), 'data_offsets': [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
hjson = json.dumps(header, separators=(',', ':')).encode('utf-8')
hjson += b' ' * ((8 - len(hjson) % 8) % 8)
with open(OUT, 'wb') as f:
    f.write(struct.pack('<Q', len(hjson)))
    f.write(hjson)
    for b in blobs:
        f.write(b)


def to_list(a):
    a = np.asarray(a)
    if a.dtype.kind == 'f':
        return [None if not np.isfinite(v) else float(v) for v in a.reshape(-1)] if a.size else []
    return [int(v) for v in a.reshape(-1)]


expect = {
    'source': 'test/golden/scripts/make_safetensors_fixture.py (numpy %s, torch %s); format: '
              'https://github.com/huggingface/safetensors README "Format"' % (np.__version__, torch.__version__),
    'metadata': header['__metadata__'],
    'data_order': order,
    'tensors': {k: {'dtype': v[0], 'shape': list(v[1]), 'values': to_list(v[3]),
                    'nonfinite': {str(i): ('inf' if x > 0 else '-inf') for i, x in enumerate(np.asarray(v[3], dtype=np.float64).reshape(-1)) if np.isinf(x)}}
                for k, v in tensors.items()},
}
with open(EXPECT, 'w') as f:
    json.dump(expect, f, indent=1)
print('wrote', OUT, os.path.getsize(OUT), 'bytes')
