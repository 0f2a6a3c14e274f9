/**
 * Minimal safetensors reading and writing for denoiser weights (F32 written; F32, F16, BF16 read),
 * plus atomic file writes. Used by `save`/`loadDenoiser`.
 * @see https://github.com/huggingface/safetensors (format: u64 LE header length, JSON header, raw data)
 * @module
 */
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { CheckpointError } from '../errors.js';

/** One tensor's data and shape. */
export interface NamedArray {
  data: Float32Array;
  shape: number[];
}

/**
 * Encode named float32 arrays as a safetensors file (keys in the given order, F32, little-endian).
 * @param tensors - name → data and shape.
 * @param metadata - optional string metadata (`__metadata__`).
 * @returns the file bytes.
 */
export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, { data, shape }] of Object.entries(tensors)) {
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new CheckpointError(`encodeSafetensors: '${name}' has ${data.length} values but shape [${shape.join(', ')}].`, { code: 'SAFETENSORS_INVALID' });
    header[name] = { dtype: 'F32', shape, data_offsets: [offset, offset + 4 * n] };
    offset += 4 * n;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hb = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + hb.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(hb.length), true);
  out.set(hb, 8);
  let pos = 8 + hb.length;
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  for (const { data } of Object.values(tensors)) {
    if (le) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), pos);
    else {
      const dv = new DataView(out.buffer);
      for (let i = 0; i < data.length; i++) dv.setFloat32(pos + 4 * i, data[i], true);
    }
    pos += data.byteLength;
  }
  return out;
}

function f16(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (m / 1024);
  if (e === 31) return m ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + m / 1024);
}

/**
 * Decode a safetensors file into float32 arrays.
 * @param bytes - the file contents.
 * @param source - a file name for error messages.
 * @throws {CheckpointError} (`SAFETENSORS_INVALID`) for a malformed file or an unsupported dtype.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors'): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  const bad = (why: string) => new CheckpointError(`Invalid safetensors file ${source}: ${why}.`, { code: 'SAFETENSORS_INVALID', path: source });
  if (bytes.length < 8) throw bad('shorter than 8 bytes');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = Number(dv.getBigUint64(0, true));
  if (8 + hlen > bytes.length) throw bad(`header length ${hlen} exceeds the file size ${bytes.length}`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, hlen).toString('utf8'));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const base = 8 + hlen;
  const tensors: Record<string, NamedArray> = {};
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = info as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = info as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const n = shape.reduce((a, b) => a * b, 1);
    const [b0, b1] = data_offsets;
    if (base + b1 > bytes.length || b1 < b0) throw bad(`tensor '${name}' data_offsets [${b0}, ${b1}] out of range`);
    const data = new Float32Array(n);
    const at = base + b0;
    if (dtype === 'F32') {
      if (b1 - b0 !== 4 * n) throw bad(`tensor '${name}' has ${b1 - b0} bytes for ${n} F32 values`);
      for (let i = 0; i < n; i++) data[i] = dv.getFloat32(at + 4 * i, true);
    } else if (dtype === 'F16' || dtype === 'BF16') {
      if (b1 - b0 !== 2 * n) throw bad(`tensor '${name}' has ${b1 - b0} bytes for ${n} ${dtype} values`);
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < n; i++) {
        const h = dv.getUint16(at + 2 * i, true);
        if (dtype === 'F16') data[i] = f16(h);
        else {
          tmp.setUint32(0, h << 16);
          data[i] = tmp.getFloat32(0);
        }
      }
    } else throw bad(`tensor '${name}' has dtype ${dtype}; accepted: F32, F16, BF16`);
    tensors[name] = { data, shape };
  }
  return { tensors, metadata };
}

/** Write `data` to `file` atomically (temporary file in the same folder, then rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await fs.mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${process.pid}.${Date.now()}.${Math.random().toString(36).slice(2)}.tmp`);
  await fs.writeFile(tmp, data);
  await fs.rename(tmp, file);
}
