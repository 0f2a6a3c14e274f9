import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { buildLatentCache, openLatentCache, type LatentCacheProgress, type LatentCache } from '../../src/data/latent-cache.js';
import { PairDataset, disposePairDatasetBatch } from '../../src/data/pair-dataset.js';
import type { Encoder } from '../../src/data/encoder.js';
import type { PreferencePair } from '../../src/data/manifest.js';
import { readSafetensorsHeader } from '../../src/core/safetensors.js';
import { decodeImage, bytesToUnit } from '../../src/image/load.js';
import { ConfigError, MediaError, isPrefkitError } from '../../src/errors.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'images');
const IMAGES = ['quad.png', 'quad.webp', 'quad.gif', 'quad.tiff', 'gray.png', 'exif-rotated.jpg', 'quad-palette.png', 'alpha.png', 'rgb16.png', 'quad-progressive.jpg'];
let tmp: string;

/** 6 pairs over 10 distinct files, one file used twice. */
function pairs(dir = FIX): PreferencePair[] {
  const p = (i: number) => join(dir, IMAGES[i]);
  return [
    { prompt: 'a', chosen: p(0), rejected: p(1), label: 1 },
    { prompt: 'b', chosen: p(2), rejected: p(3), label: 1, captionChosen: 'x', captionRejected: 'y' },
    { prompt: 'c', chosen: p(4), rejected: p(5), label: 0.5 },
    { prompt: 'd', chosen: p(6), rejected: p(7), label: 1 },
    { prompt: 'e', chosen: p(8), rejected: p(9), label: 0.8 },
    { prompt: 'f', chosen: p(0), rejected: p(9), label: 1 },
  ];
}

/** Identity encoder that counts the images it encodes. */
function counting(id = 'identity'): Encoder & { images: number; calls: number } {
  const e = {
    id,
    images: 0,
    calls: 0,
    encode(x: tf.Tensor4D) {
      e.calls++;
      e.images += x.shape[0];
      return tf.clone(x);
    },
    decode: (z: tf.Tensor4D) => tf.clone(z),
  };
  return e;
}

/** Every entry of a cache, key → values, for content comparison. */
async function contents(cache: LatentCache): Promise<Map<string, number[]>> {
  const m = await cache.read(cache.keys());
  return new Map([...m].map(([k, v]) => [k, [...v.shape, ...v.data]]));
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  tmp = mkdtempSync(join(tmpdir(), 'prefkit-cache-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('buildLatentCache', () => {
  it('encodes each distinct image once into shards, with exact latents and ordered progress events', async () => {
    const enc = counting();
    const events: LatentCacheProgress[] = [];
    const dir = join(tmp, 'full');
    const r = await buildLatentCache(pairs(), enc, dir, { size: 8, shardSize: 4, encodeBatch: 3, onProgress: (e) => events.push(e) });
    expect([r.total, r.encoded, r.cached, r.shardsWritten]).toEqual([10, 10, 0, 3]);
    expect(enc.images).toBe(10);
    expect(events.map((e) => e.type)).toEqual(['plan', 'shard', 'shard', 'shard', 'done']);
    expect(events.filter((e) => e.type === 'shard').map((e) => (e as { completed: number }).completed)).toEqual([4, 8, 10]);
    expect(r.cache.size).toBe(10);
    // identity latents are the loader's pixels
    for (const name of ['quad.png', 'exif-rotated.jpg', 'alpha.png']) {
      const d = await decodeImage(join(FIX, name), { size: 8 });
      const z = (await r.cache.get(join(FIX, name)))!;
      expect(z.shape).toEqual([8, 8, 3]);
      expect(Array.from(await z.data())).toEqual(Array.from(bytesToUnit(d.data)));
      z.dispose();
    }
    // shards are safetensors with metadata naming the config
    const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    expect(shards).toHaveLength(3);
    const h = await readSafetensorsHeader(join(dir, shards[0]));
    expect(h.metadata).toMatchObject({ format: 'prefkit-latent-cache', encoderId: 'identity', config: r.cache.configId });

    // a second build does no work
    const again = counting();
    const r2 = await buildLatentCache(pairs(), again, dir, { size: 8, shardSize: 4 });
    expect([r2.encoded, r2.cached, r2.shardsWritten, again.calls]).toEqual([0, 10, 0, 0]);
  });

  it('an aborted build resumes without redoing finished shards and ends with identical contents', async () => {
    const reference = await buildLatentCache(pairs(), counting(), join(tmp, 'ref'), { size: 8, shardSize: 3, encodeBatch: 3 });
    const dir = join(tmp, 'aborted');
    const first = counting();
    const ac = new AbortController();
    const err = await buildLatentCache(pairs(), first, dir, {
      size: 8,
      shardSize: 3,
      encodeBatch: 3,
      signal: ac.signal,
      onProgress: (e) => {
        if (e.type === 'shard' && e.completed === 6) ac.abort();
      },
    }).catch((e: unknown) => e);
    expect(isPrefkitError(err) && err.code).toBe('ABORTED');
    expect(first.images).toBe(6); // two shards finished, nothing after the abort
    const second = counting();
    const r = await buildLatentCache(pairs(), second, dir, { size: 8, shardSize: 3, encodeBatch: 3 });
    expect(second.images).toBe(4); // only the missing ones
    expect([r.cached, r.encoded]).toEqual([6, 4]);
    expect(await contents(r.cache)).toEqual(await contents(reference.cache));
  });

  it('a build killed by SIGKILL mid-way restarts, adopts finished shards and repeats no work', async () => {
    const dir = join(tmp, 'killed');
    const recordsFile = join(tmp, 'records.json');
    writeFileSync(recordsFile, JSON.stringify(pairs()));
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'cache-child.ts'), recordsFile, dir, '4'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let errText = '';
    child.stderr.on('data', (d) => (errText += String(d)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d) => {
        out += String(d);
        if (out.includes('stalling')) resolve(); // first shard written, second in progress
      });
      child.on('exit', (code) => reject(new Error(`child exited early (${code}): ${out} ${errText}`)));
    });
    child.removeAllListeners('exit');
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    expect(readdirSync(dir).filter((f) => f.endsWith('.safetensors'))).toHaveLength(1);

    const resumed = counting();
    const r = await buildLatentCache(pairs(), resumed, dir, { size: 8, shardSize: 4, encodeBatch: 4 });
    expect(resumed.images).toBe(6); // 10 distinct − 4 in the finished shard
    expect(r.cached).toBe(4);
    expect(readdirSync(dir).some((f) => f.includes('.tmp-'))).toBe(false);
    const reference = await buildLatentCache(pairs(), counting(), join(tmp, 'ref-kill'), { size: 8, shardSize: 4 });
    expect(await contents(r.cache)).toEqual(await contents(reference.cache));
  }, 60_000);

  it('never serves a stale latent: a changed file is missing until rebuilt, then re-encoded alone', async () => {
    const src = join(tmp, 'src');
    rmSync(src, { recursive: true, force: true });
    mkdirSync(src);
    for (const f of IMAGES) copyFileSync(join(FIX, f), join(src, f));
    const dir = join(tmp, 'stale');
    const before = await buildLatentCache(pairs(src), counting(), dir, { size: 8, shardSize: 4 });
    const victim = join(src, 'quad.png');
    const old = (await before.cache.get(victim))!;
    copyFileSync(join(FIX, 'quad-cmyk.jpg'), victim); // new content, same path, never cached
    const cache = await openLatentCache(dir);
    expect(await cache.get(victim)).toBeUndefined();
    await expect(PairDataset.fromLatentCache(pairs(src), cache, { batchSize: 2, seed: 0 })).rejects.toThrow(/lacks 2 image\(s\).*quad\.png/);
    const enc = counting();
    const after = await buildLatentCache(pairs(src), enc, dir, { size: 8, shardSize: 4 });
    expect(enc.images).toBe(1); // only the changed file
    const fresh = (await after.cache.get(victim))!;
    const d = await decodeImage(join(FIX, 'quad-cmyk.jpg'), { size: 8 });
    expect(Array.from(await fresh.data())).toEqual(Array.from(bytesToUnit(d.data)));
    // content already cached under another name: same key, no work
    copyFileSync(join(FIX, 'gray.png'), victim);
    const enc2 = counting();
    const again = await buildLatentCache(pairs(src), enc2, dir, { size: 8, shardSize: 4 });
    expect(enc2.images).toBe(0);
    const now = (await again.cache.get(victim))!;
    const gray = (await again.cache.get(join(FIX, 'gray.png')))!;
    expect(Array.from(await now.data())).toEqual(Array.from(await gray.data()));
    expect(Array.from(await now.data())).not.toEqual(Array.from(await old.data()));
    fresh.dispose();
    tf.dispose([old, now, gray]);
  });

  it('keys include the encoder id and preprocessing: configs coexist and are selected on open', async () => {
    const dir = join(tmp, 'configs');
    await buildLatentCache(pairs(), counting('identity'), dir, { size: 8 });
    const other = counting('other-encoder');
    await buildLatentCache(pairs(), other, dir, { size: 8 });
    expect(other.images).toBe(10);
    const small = counting('identity');
    await buildLatentCache(pairs(), small, dir, { size: 4 });
    expect(small.images).toBe(10);
    await expect(openLatentCache(dir)).rejects.toThrow(/several configs match/);
    const c = await openLatentCache(dir, { encoder: 'identity', size: 4 });
    expect(c.preprocessing.size).toEqual([4, 4]);
    const z = (await c.get(join(FIX, 'quad.png')))!;
    expect(z.shape).toEqual([4, 4, 3]);
    z.dispose();
    expect((await openLatentCache(dir, { encoder: 'other-encoder' })).encoderId).toBe('other-encoder');
    await expect(openLatentCache(join(tmp, 'nothing-here'))).rejects.toThrow(ConfigError);
  });

  it('a bad image fails the build with a MediaError naming it; earlier shards stay', async () => {
    const bad: PreferencePair[] = [...pairs(), { prompt: 'z', chosen: join(FIX, 'truncated.png'), rejected: join(FIX, 'quad.png'), label: 1 }];
    const dir = join(tmp, 'bad');
    const err = await buildLatentCache(bad, counting(), dir, { size: 8, shardSize: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MediaError);
    expect((err as MediaError).file).toBe(join(FIX, 'truncated.png'));
    expect(existsSync(join(dir, 'index.json'))).toBe(true);
    const c = await openLatentCache(dir);
    expect(c.size).toBe(8);
  });

  it('leaks no tensors (cold build, reads, get)', async () => {
    const dir = join(tmp, 'leak');
    await expectNoLeakedTensors(async () => {
      rmSync(dir, { recursive: true, force: true });
      const r = await buildLatentCache(pairs(), counting(), dir, { size: 8, shardSize: 4 });
      await contents(r.cache);
      (await r.cache.get(join(FIX, 'quad.png')))!.dispose();
    });
  });
});

describe('PairDataset.fromLatentCache', () => {
  it('serves the same batches as decoding the manifest directly', async () => {
    const { cache } = await buildLatentCache(pairs(), counting(), join(tmp, 'ds'), { size: 8 });
    const a = await PairDataset.fromLatentCache(pairs(), cache, { batchSize: 4, seed: 9 });
    const b = await PairDataset.fromManifest(pairs(), { size: 8 }, { batchSize: 4, seed: 9 });
    for (let i = 0; i < 3; i++) {
      const x = a.nextBatch();
      const y = b.nextBatch();
      expect(x.indices).toEqual(y.indices);
      expect(Array.from(await x.chosen.data())).toEqual(Array.from(await y.chosen.data()));
      expect(Array.from(await x.rejected.data())).toEqual(Array.from(await y.rejected.data()));
      expect(x.captionChosen).toEqual(y.captionChosen);
      expect(Array.from(await x.preference.data())).toEqual(Array.from(await y.preference.data()));
      disposePairDatasetBatch(x);
      disposePairDatasetBatch(y);
    }
  });
});
