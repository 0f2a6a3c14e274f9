/**
 * safetensors read/write (https://github.com/huggingface/safetensors, "Format"):
 * 8-byte little-endian header length N, N bytes of JSON header, then the raw little-endian
 * tensor bytes. Every length and offset is checked against the real size of the file before
 * anything large is allocated; a malformed file gives a {@link CheckpointError} with code
 * `SAFETENSORS_INVALID`, never a crash or a huge allocation.
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { CheckpointError } from '../errors.js';

/** dtypes read: F32, F16, BF16, F64 (→ float32), I32, I64, I16, I8, U8, U16 (→ int32), BOOL (→ bool). */
export type SafetensorsDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U16' | 'U8' | 'BOOL';

const ITEM_SIZE: Record<SafetensorsDtype, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U16: 2, U8: 1, BOOL: 1 };
const KNOWN_UNSUPPORTED = ['U32', 'U64', 'F8_E4M3', 'F8_E5M2', 'C64'];
/** The header may not exceed this (the reference implementation's limit). */
export const SAFETENSORS_MAX_HEADER = 100 * 1024 * 1024;

/** One tensor entry of a safetensors header. */
export interface SafetensorsEntry {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** `[begin, end)` byte offsets relative to the start of the data section. */
  readonly dataOffsets: readonly [number, number];
}

/** A parsed, validated safetensors header. */
export interface SafetensorsHeader {
  /** Tensor entries by name, in header order. */
  readonly entries: Readonly<Record<string, SafetensorsEntry>>;
  /** `__metadata__` (string → string), `{}` if absent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte offset of the data section in the file (8 + header length). */
  readonly dataStart: number;
  /** Total file size in bytes. */
  readonly fileSize: number;
}

/** What {@link readSafetensors} returns. */
export interface SafetensorsContents {
  /** Tensors by name (float32 for float dtypes, int32 for integers, bool for BOOL). The caller owns (disposes) them. */
  readonly tensors: Record<string, tf.Tensor>;
  /** `__metadata__`. */
  readonly metadata: Record<string, string>;
}

/** Options of {@link readSafetensors}. */
export interface ReadSafetensorsOptions {
  /** Read only these tensors (others are skipped without reading their bytes). */
  readonly names?: readonly string[];
}

type Source = string | Uint8Array;

function invalid(message: string, src: Source, cause?: unknown): CheckpointError {
  const where = typeof src === 'string' ? src : '(buffer)';
  return new CheckpointError(`Invalid safetensors file ${where}: ${message}`, {
    code: 'SAFETENSORS_INVALID',
    path: typeof src === 'string' ? src : undefined,
    cause,
  });
}

/** Random-access reader over a path or an in-memory buffer. */
interface ByteSource {
  size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

async function openSource(src: Source): Promise<ByteSource> {
  if (typeof src !== 'string') {
    const buf = src;
    return {
      size: buf.byteLength,
      // a copy: aligned, and never aliasing the caller's bytes
      read: async (offset, length) => Uint8Array.prototype.slice.call(buf, offset, offset + length),
      close: async () => {},
    };
  }
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(src, 'r');
  } catch (e) {
    throw new CheckpointError(`Cannot open safetensors file ${src}: ${(e as Error).message}`, { path: src, code: 'CHECKPOINT_INVALID', cause: e });
  }
  const { size } = await fh.stat();
  return {
    size,
    async read(offset, length) {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(out, done, length - done, offset + done);
        if (bytesRead === 0) throw invalid(`unexpected end of file at byte ${offset + done}`, src);
        done += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

function isNonNegInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

async function parseHeader(src: Source, io: ByteSource): Promise<SafetensorsHeader> {
  const size = io.size;
  if (size < 8) throw invalid(`file is ${size} bytes, shorter than the 8-byte header length.`, src);
  const lenBytes = await io.read(0, 8);
  const n64 = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(size - 8)) throw invalid(`header length ${n64} is beyond the file (${size} bytes, at most ${size - 8} available).`, src);
  const n = Number(n64);
  if (n > SAFETENSORS_MAX_HEADER) throw invalid(`header length ${n} exceeds the ${SAFETENSORS_MAX_HEADER}-byte limit.`, src);
  if (n < 2) throw invalid(`header length ${n} is too short for a JSON object.`, src);
  const raw = await io.read(8, n);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw invalid(`the header is not valid UTF-8 JSON (${(e as Error).message}).`, src, e);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw invalid('the header is not a JSON object.', src);
  const dataStart = 8 + n;
  const dataLen = size - dataStart;
  const entries: Record<string, SafetensorsEntry> = {};
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw invalid('__metadata__ is not an object.', src);
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') throw invalid(`__metadata__.${mk} is ${typeof mv}, expected a string.`, src);
      }
      metadata = { ...(v as Record<string, string>) };
      continue;
    }
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== 'object') throw invalid(`entry '${name}' is not an object.`, src);
    const dtype = e.dtype;
    if (typeof dtype !== 'string' || !(dtype in ITEM_SIZE)) {
      const why = typeof dtype === 'string' && KNOWN_UNSUPPORTED.includes(dtype) ? 'unsupported' : 'unknown';
      throw invalid(`tensor '${name}' has ${why} dtype ${JSON.stringify(dtype)}; accepted: ${Object.keys(ITEM_SIZE).join(', ')}.`, src);
    }
    if (!Array.isArray(e.shape) || !e.shape.every(isNonNegInt)) {
      throw invalid(`tensor '${name}' has shape ${JSON.stringify(e.shape)}; expected an array of non-negative integers.`, src);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !isNonNegInt(off[0]) || !isNonNegInt(off[1]) || off[1] < off[0]) {
      throw invalid(`tensor '${name}' has data_offsets ${JSON.stringify(off)}; expected [begin, end] with 0 <= begin <= end.`, src);
    }
    if (off[1] > dataLen) throw invalid(`tensor '${name}' data_offsets [${off[0]}, ${off[1]}] run past the data section (${dataLen} bytes).`, src);
    const shape = e.shape as number[];
    const count = shape.reduce((a, b) => a * b, 1);
    const bytes = count * ITEM_SIZE[dtype as SafetensorsDtype];
    if (!Number.isSafeInteger(bytes) || bytes !== off[1] - off[0]) {
      throw invalid(`tensor '${name}' is ${dtype} [${shape.join(', ')}] = ${bytes} bytes but data_offsets [${off[0]}, ${off[1]}] span ${off[1] - off[0]}.`, src);
    }
    entries[name] = { dtype: dtype as SafetensorsDtype, shape, dataOffsets: [off[0], off[1]] };
  }
  // no two tensors may share bytes
  const spans = Object.entries(entries)
    .filter(([, e]) => e.dataOffsets[1] > e.dataOffsets[0])
    .sort((a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0]);
  for (let i = 1; i < spans.length; i++) {
    const [pn, p] = spans[i - 1];
    const [cn, c] = spans[i];
    if (c.dataOffsets[0] < p.dataOffsets[1]) {
      throw invalid(`tensors '${pn}' [${p.dataOffsets}] and '${cn}' [${c.dataOffsets}] overlap.`, src);
    }
  }
  return { entries, metadata, dataStart, fileSize: size };
}

/**
 * Read and validate only the header of a safetensors file (cheap: no tensor bytes are read).
 * @param src - a file path, or the file's bytes.
 * @returns entries (dtype, shape, offsets), metadata, where the data starts, the file size.
 * @throws {CheckpointError} code `SAFETENSORS_INVALID` for a malformed header.
 */
export async function readSafetensorsHeader(src: Source): Promise<SafetensorsHeader> {
  const io = await openSource(src);
  try {
    return await parseHeader(src, io);
  } finally {
    await io.close();
  }
}

let F16_TABLE: Float32Array | null = null;
function f16Table(): Float32Array {
  if (F16_TABLE) return F16_TABLE;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1;
    const e = (h >> 10) & 0x1f;
    const m = h & 0x3ff;
    if (e === 0) t[h] = s * m * 2 ** -24;
    else if (e === 31) t[h] = m ? NaN : s * Infinity;
    else t[h] = s * (1 + m / 1024) * 2 ** (e - 15);
  }
  F16_TABLE = t;
  return t;
}

/** Convert little-endian bytes of `dtype` to a tfjs-ready typed array. */
function decode(bytes: Uint8Array, e: SafetensorsEntry, name: string, src: Source): { values: Float32Array | Int32Array | Uint8Array; dtype: 'float32' | 'int32' | 'bool' } {
  // `bytes` is a fresh, aligned copy (offset 0) unless noted
  const count = e.shape.reduce((a, b) => a * b, 1);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const aligned = (k: number) => bytes.byteOffset % k === 0;
  switch (e.dtype) {
    case 'F32': {
      if (aligned(4)) return { values: new Float32Array(bytes.buffer, bytes.byteOffset, count), dtype: 'float32' };
      return { values: new Float32Array(bytes.slice().buffer, 0, count), dtype: 'float32' };
    }
    case 'F64': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getFloat64(8 * i, true);
      return { values: out, dtype: 'float32' };
    }
    case 'F16': {
      const t = f16Table();
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = t[dv.getUint16(2 * i, true)];
      return { values: out, dtype: 'float32' };
    }
    case 'BF16': {
      const out = new Float32Array(count);
      const u = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) u[i] = dv.getUint16(2 * i, true) << 16;
      return { values: out, dtype: 'float32' };
    }
    case 'I32': {
      if (aligned(4)) return { values: new Int32Array(bytes.buffer, bytes.byteOffset, count), dtype: 'int32' };
      return { values: new Int32Array(bytes.slice().buffer, 0, count), dtype: 'int32' };
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const lo = dv.getInt32(8 * i, true);
        const hi = dv.getInt32(8 * i + 4, true);
        if (hi !== lo >> 31) {
          throw new CheckpointError(
            `safetensors tensor '${name}' (I64) holds ${dv.getBigInt64(8 * i, true)} at index ${i}, outside the int32 range tfjs supports.`,
            { code: 'SAFETENSORS_INVALID', path: typeof src === 'string' ? src : undefined },
          );
        }
        out[i] = lo;
      }
      return { values: out, dtype: 'int32' };
    }
    case 'I16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getInt16(2 * i, true);
      return { values: out, dtype: 'int32' };
    }
    case 'U16': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) out[i] = dv.getUint16(2 * i, true);
      return { values: out, dtype: 'int32' };
    }
    case 'I8':
      return { values: Int32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, count)), dtype: 'int32' };
    case 'U8':
      return { values: Int32Array.from(bytes.subarray(0, count)), dtype: 'int32' };
    case 'BOOL':
      return { values: Uint8Array.from(bytes.subarray(0, count), (b) => (b ? 1 : 0)), dtype: 'bool' };
    default: {
      const never: never = e.dtype;
      throw invalid(`unhandled dtype ${String(never)}`, src);
    }
  }
}

/**
 * Read a safetensors file (written by prefkit, the Python `safetensors` library, diffusers…).
 * F32, F16, BF16 and F64 become float32 tensors; I32, I64 (checked to fit), I16, U16, I8, U8
 * become int32; BOOL becomes bool. Shapes are kept as stored (PyTorch layouts are not converted).
 *
 * @param src - a file path, or the whole file as bytes.
 * @param opts - `names`: read only these tensors.
 * @returns `{ tensors, metadata }`; the caller owns the tensors.
 * @throws {CheckpointError} code `SAFETENSORS_INVALID` for a malformed file (header length
 *   beyond the file, non-JSON header, offsets out of range or overlapping or not matching
 *   dtype × shape, unknown dtype, negative shapes) — checked before any tensor is allocated;
 *   code `CHECKPOINT_INVALID` when the file cannot be opened or a requested name is missing.
 * @example
 * const { tensors, metadata } = await readSafetensors('unet.safetensors');
 * tf.dispose(Object.values(tensors));
 */
export async function readSafetensors(src: Source, opts: ReadSafetensorsOptions = {}): Promise<SafetensorsContents> {
  const io = await openSource(src);
  const tensors: Record<string, tf.Tensor> = {};
  try {
    const header = await parseHeader(src, io);
    let names = Object.keys(header.entries);
    if (opts.names) {
      const missing = opts.names.filter((n) => !(n in header.entries));
      if (missing.length) {
        throw new CheckpointError(`safetensors ${typeof src === 'string' ? src : '(buffer)'} has no tensor ${missing.map((m) => `'${m}'`).join(', ')}; it has: ${names.slice(0, 20).join(', ')}${names.length > 20 ? ', …' : ''}.`, {
          path: typeof src === 'string' ? src : undefined,
        });
      }
      names = [...opts.names];
    }
    for (const name of names) {
      const e = header.entries[name];
      const [b, end] = e.dataOffsets;
      const bytes = await io.read(header.dataStart + b, end - b);
      const { values, dtype } = decode(bytes, e, name, src);
      tensors[name] = tf.tensor(values, [...e.shape], dtype);
    }
    return { tensors, metadata: { ...header.metadata } };
  } catch (err) {
    tf.dispose(Object.values(tensors));
    throw err;
  } finally {
    await io.close();
  }
}

/**
 * Serialise tensors to safetensors bytes: float32 → F32, int32 → I32, bool → BOOL; header
 * keys sorted, data contiguous in that order, header padded with spaces to a multiple of 8.
 * @param tensors - tensors by name (not disposed).
 * @param metadata - optional `__metadata__` (string values).
 * @returns the file bytes.
 * @throws {CheckpointError} for a name `__metadata__`, a complex/string tensor, or non-string metadata.
 */
export async function encodeSafetensors(tensors: Record<string, tf.Tensor>, metadata?: Record<string, string>): Promise<Uint8Array> {
  const names = Object.keys(tensors).sort();
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new CheckpointError(`writeSafetensors: metadata '${k}' is ${typeof v}; safetensors metadata values must be strings.`);
    }
    header.__metadata__ = { ...metadata };
  }
  const blobs: Uint8Array[] = [];
  let off = 0;
  for (const name of names) {
    if (name === '__metadata__') throw new CheckpointError(`writeSafetensors: '__metadata__' is reserved and cannot name a tensor.`);
    const t = tensors[name];
    let st: SafetensorsDtype;
    let raw: Uint8Array;
    if (t.dtype === 'float32') {
      st = 'F32';
      const v = (await t.data()) as Float32Array;
      raw = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } else if (t.dtype === 'int32') {
      st = 'I32';
      const v = (await t.data()) as Int32Array;
      raw = new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
    } else if (t.dtype === 'bool') {
      st = 'BOOL';
      raw = Uint8Array.from((await t.data()) as Uint8Array);
    } else {
      throw new CheckpointError(`writeSafetensors: tensor '${name}' has dtype ${t.dtype}; accepted: float32, int32, bool.`);
    }
    header[name] = { dtype: st, shape: t.shape, data_offsets: [off, off + raw.byteLength] };
    blobs.push(raw);
    off += raw.byteLength;
  }
  let hbytes = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(hbytes.length / 8) * 8;
  if (padded !== hbytes.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(hbytes);
    hbytes = p;
  }
  const out = new Uint8Array(8 + hbytes.length + off);
  new DataView(out.buffer).setBigUint64(0, BigInt(hbytes.length), true);
  out.set(hbytes, 8);
  let pos = 8 + hbytes.length;
  for (const b of blobs) {
    out.set(b, pos);
    pos += b.byteLength;
  }
  return out;
}

/**
 * Write tensors to a safetensors file atomically: to a temp file in the same directory,
 * fsync, then rename over `file` (a reader never sees a half-written file). Creates the
 * directory if needed. float32 → F32 (int32 → I32, bool → BOOL).
 *
 * @param file - destination path.
 * @param tensors - tensors by name (not disposed).
 * @param metadata - optional `__metadata__` (string → string).
 * @throws {CheckpointError} for unsupported dtypes or metadata, or when the write fails.
 * @example
 * await writeSafetensors('out/weights.safetensors', { 'conv.weight': w }, { step: '100' });
 */
export async function writeSafetensors(file: string, tensors: Record<string, tf.Tensor>, metadata?: Record<string, string>): Promise<void> {
  const bytes = await encodeSafetensors(tensors, metadata);
  const dir = path.dirname(path.resolve(file));
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    await fsp.mkdir(dir, { recursive: true });
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, file);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw new CheckpointError(`writeSafetensors: cannot write ${file}: ${(e as Error).message}`, { path: file, cause: e });
  }
}
