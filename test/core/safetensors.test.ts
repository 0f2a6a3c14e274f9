import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, readSafetensors, readSafetensorsHeader, writeSafetensors } from '../../src/core/safetensors.js';
import { CheckpointError, isCheckpointError } from '../../src/errors.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE = path.join(here, '../golden/safetensors-fixture.safetensors');
const EXPECT = path.join(here, '../golden/safetensors-fixture.json');
let dir: string;

beforeAll(async () => {
  await tf.setBackend('cpu');
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'prefkit-st-'));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/** Build a file by hand: header object (or raw header string) + data bytes. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0), lenOverride?: bigint): Uint8Array {
  const h = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, lenOverride ?? BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

async function expectInvalid(bytes: Uint8Array, pattern: RegExp): Promise<void> {
  const err = await readSafetensors(bytes).catch((e: unknown) => e);
  expect(isCheckpointError(err), String(err)).toBe(true);
  expect((err as CheckpointError).code).toBe('SAFETENSORS_INVALID');
  expect((err as Error).message).toMatch(pattern);
  // the same through a file path
  const f = path.join(dir, `bad-${Math.random().toString(36).slice(2)}.safetensors`);
  await fsp.writeFile(f, bytes);
  const err2 = await readSafetensors(f).catch((e: unknown) => e);
  expect((err2 as CheckpointError).code).toBe('SAFETENSORS_INVALID');
  expect((err2 as CheckpointError).path).toBe(f);
}

describe('readSafetensors on a file written by Python (test/golden/scripts/make_safetensors_fixture.py)', () => {
  it('reads F32, F16, BF16, I32, I64, a scalar and an empty tensor with the expected values', async () => {
    const want = JSON.parse(await fsp.readFile(EXPECT, 'utf8')) as {
      metadata: Record<string, string>;
      tensors: Record<string, { dtype: string; shape: number[]; values: (number | null)[]; nonfinite: Record<string, string> }>;
    };
    const { tensors, metadata } = await readSafetensors(FIXTURE);
    expect(metadata).toEqual(want.metadata);
    expect(Object.keys(tensors).sort()).toEqual(Object.keys(want.tensors).sort());
    for (const [name, w] of Object.entries(want.tensors)) {
      const t = tensors[name];
      expect(t.shape, name).toEqual(w.shape);
      expect(t.dtype, name).toBe(w.dtype.startsWith('I') ? 'int32' : 'float32');
      const got = Array.from(t.dataSync());
      w.values.forEach((v, i) => {
        if (v === null) expect(got[i], `${name}[${i}]`).toBe(w.nonfinite[String(i)] === 'inf' ? Infinity : -Infinity);
        else expect(got[i], `${name}[${i}]`).toBe(t.dtype === 'int32' ? v : Math.fround(v));
      });
    }
    tf.dispose(Object.values(tensors));
  });

  it('peeks the header without reading data, and reads a subset by name', async () => {
    const h = await readSafetensorsHeader(FIXTURE);
    expect(h.entries.bf16).toEqual({ dtype: 'BF16', shape: [6], dataOffsets: expect.any(Array) });
    expect(h.dataStart % 8).toBe(0);
    const { tensors } = await readSafetensors(FIXTURE, { names: ['f16'] });
    expect(Object.keys(tensors)).toEqual(['f16']);
    tf.dispose(Object.values(tensors));
    await expect(readSafetensors(FIXTURE, { names: ['nope'] })).rejects.toThrow(/has no tensor 'nope'/);
  });
});

describe('writeSafetensors', () => {
  it('round-trips float32, int32 and bool tensors and metadata, atomically', async () => {
    const f = path.join(dir, 'sub', 'rt.safetensors');
    const src = {
      'b.weight': tf.tensor([[1.5, -2], [3e-8, 1e30]]),
      a: tf.tensor([7, -8, 2147483647], [3], 'int32'),
      mask: tf.tensor([1, 0, 1], [3], 'bool'),
      scalar: tf.scalar(3),
      empty: tf.zeros([0, 4]),
    };
    await writeSafetensors(f, src, { step: '12', note: 'x' });
    expect((await fsp.readdir(path.dirname(f))).filter((n) => n.includes('.tmp-'))).toEqual([]);
    const h = await readSafetensorsHeader(f);
    expect(Object.keys(h.entries)).toEqual(['a', 'b.weight', 'empty', 'mask', 'scalar']);
    expect(h.entries['b.weight'].dtype).toBe('F32');
    expect(h.dataStart % 8).toBe(0);
    const { tensors, metadata } = await readSafetensors(f);
    expect(metadata).toEqual({ step: '12', note: 'x' });
    for (const [k, t] of Object.entries(src)) {
      expect(tensors[k].dtype).toBe(t.dtype);
      expect(tensors[k].shape).toEqual(t.shape);
      expect(Array.from(tensors[k].dataSync())).toEqual(Array.from(t.dataSync()));
    }
    tf.dispose([...Object.values(src), ...Object.values(tensors)]);
  });

  it('matches the byte layout Python reads (header length, JSON, contiguous data)', async () => {
    const bytes = await encodeSafetensors({ x: tf.tensor([1, 2], [2]) });
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header).toEqual({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } });
    expect(Array.from(new Float32Array(bytes.slice(8 + n).buffer))).toEqual([1, 2]);
  });

  it('rejects unsupported dtypes and non-string metadata with CheckpointError', async () => {
    const c = tf.complex([1], [2]);
    await expect(writeSafetensors(path.join(dir, 'c.safetensors'), { c })).rejects.toThrow(/dtype complex64; accepted: float32, int32, bool/);
    c.dispose();
    const t = tf.scalar(1);
    await expect(writeSafetensors(path.join(dir, 'm.safetensors'), { t }, { n: 3 as unknown as string })).rejects.toBeInstanceOf(CheckpointError);
    t.dispose();
  });
});

describe('malformed files give SAFETENSORS_INVALID, before any big allocation', () => {
  const f32 = (n: number) => new Uint8Array(new Float32Array(n).buffer);
  it('file shorter than 8 bytes', () => expectInvalid(new Uint8Array(5), /shorter than the 8-byte header length/));
  it('header length beyond the file (even 2^63)', async () => {
    await expectInvalid(build({}, new Uint8Array(0), 1000n), /header length 1000 is beyond the file/);
    await expectInvalid(build({}, new Uint8Array(0), 2n ** 63n), /header length 9223372036854775808 is beyond the file/);
  });
  it('non-JSON header', () => expectInvalid(build('{"a": [1, 2'), /not valid UTF-8 JSON/));
  it('non-object header', () => expectInvalid(build('[1,2,3]'), /not a JSON object/));
  it('invalid UTF-8 in the header', () => expectInvalid(build('{"\udc00":1}'.replace('\udc00', '\u00ff')).map((b, i, a) => (i === 10 ? 0xff : b)), /UTF-8 JSON/));
  it('offsets out of range', () =>
    expectInvalid(build({ w: { dtype: 'F32', shape: [1e9], data_offsets: [0, 4e9] } }, f32(2)), /run past the data section \(8 bytes\)/));
  it('offsets not matching dtype x shape', () =>
    expectInvalid(build({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)), /F32 \[3\] = 12 bytes but data_offsets \[0, 8\] span 8/));
  it('overlapping tensors', () =>
    expectInvalid(
      build({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, f32(3)),
      /'a' \[0,8\] and 'b' \[4,12\] overlap/,
    ));
  it('unknown dtype', () =>
    expectInvalid(build({ w: { dtype: 'Q4', shape: [1], data_offsets: [0, 1] } }, new Uint8Array(1)), /unknown dtype "Q4"; accepted: F64, F32, F16, BF16, I64/));
  it('negative or fractional shapes', async () => {
    await expectInvalid(build({ w: { dtype: 'F32', shape: [-1, 2], data_offsets: [0, 8] } }, f32(2)), /shape \[-1,2\]; expected an array of non-negative integers/);
    await expectInvalid(build({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 8] } }, f32(2)), /non-negative integers/);
  });
  it('bad data_offsets', async () => {
    await expectInvalid(build({ w: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, f32(2)), /data_offsets \[8,0\]/);
    await expectInvalid(build({ w: { dtype: 'F32', shape: [2], data_offsets: [0] } }, f32(2)), /data_offsets \[0\]/);
  });
  it('metadata that is not string to string', () => expectInvalid(build({ __metadata__: { a: 1 } }), /__metadata__.a is number/));
  it('an I64 value outside int32', async () => {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigInt64(0, 2n ** 40n, true);
    await expectInvalid(build({ w: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, b), /1099511627776 at index 0, outside the int32 range/);
  });
  it('a file that cannot be opened is CHECKPOINT_INVALID', async () => {
    const err = (await readSafetensors(path.join(dir, 'missing.safetensors')).catch((e: unknown) => e)) as CheckpointError;
    expect(err.code).toBe('CHECKPOINT_INVALID');
  });
  it('leaves no tensors behind on failure', async () => {
    const before = tf.memory().numTensors;
    const b = new Uint8Array(16);
    new DataView(b.buffer).setBigInt64(8, 2n ** 40n, true);
    await readSafetensors(build({ a: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, z: { dtype: 'I64', shape: [1], data_offsets: [8, 16] } }, b)).catch(() => {});
    expect(tf.memory().numTensors).toBe(before);
  });
});
