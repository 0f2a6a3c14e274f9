/**
 * A content-addressed latent cache: images decoded, resized and encoded once, stored as
 * safetensors shards with a JSON index.
 *
 * Layout of `outDir`:
 * - `shard-<hash>.safetensors`: one F32 tensor per image, named by its entry key, with
 *   `__metadata__` `{ format, version, config, encoderId, preprocessing }`;
 * - `index.json`: configs, shards and entries (`key → { shard, shape }`), written atomically.
 *
 * An entry key is `sha256(sha256(file bytes) | config)`, where the config hashes the encoder id
 * and the preprocessing options (size, fit, crop, background, loader version). A changed file
 * hashes to a new key, so the cache can never serve a stale latent; a different encoder or size
 * is a different config, and several configs can share one folder.
 *
 * Crash safety: shards and the index are written to a temporary file and renamed. A rerun
 * keeps every finished shard, adopts finished shards that a crash left out of the index
 * (from their metadata), removes stray temporary files, and encodes only what is missing.
 * One build at a time per folder.
 * @module
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { ConfigError, MediaError, PrefkitError } from '../errors.js';
import { readSafetensors, readSafetensorsHeader, writeSafetensors } from '../core/safetensors.js';
import { bytesToUnit, decodeImage, mapLimit, type Background, type ImageSource, type LoadImageOptions } from '../image/load.js';
import type { Encoder } from './encoder.js';
import type { PairManifest, PreferencePair } from './manifest.js';

/** Version of the loader's output for identical options; bump to invalidate caches. */
const PREPROCESSING_VERSION = 1;
const INDEX = 'index.json';
const FORMAT = 'prefkit-latent-cache';

/** Preprocessing that determines the pixels handed to the encoder (part of every key). */
export interface CachePreprocessing {
  /** `[height, width]`. */
  size: [number, number];
  fit: 'cover' | 'contain' | 'fill';
  /** Always `'center'`: a cache holds one deterministic view per image. */
  crop: 'center';
  /** `'#rrggbb'` used to flatten alpha and pad `contain`. */
  background: string;
  /** Loader version. */
  version: number;
}

/** Options of {@link buildLatentCache}. */
export interface BuildLatentCacheOptions {
  /** Output size: a number (square) or `[height, width]`. Required. */
  size: number | readonly [number, number];
  /** `'cover'` (default, centre crop), `'contain'` or `'fill'`. */
  fit?: 'cover' | 'contain' | 'fill';
  /** Alpha/padding colour (default white). */
  background?: Background;
  /** Header pixel limit per image (see `loadImage`). */
  maxPixels?: number;
  /** Images per shard (default 64). */
  shardSize?: number;
  /** Images per `encoder.encode` call (default 16). */
  encodeBatch?: number;
  /** Files hashed or decoded at once (default 4). */
  concurrency?: number;
  /** Called with progress events, in order: `plan`, one `shard` per shard written, `done`. */
  onProgress?: (event: LatentCacheProgress) => void;
  /** Stops the build between images; finished shards stay. */
  signal?: AbortSignal;
}

/** Progress of {@link buildLatentCache}. `completed`/`total` count distinct images of the manifest. */
export type LatentCacheProgress =
  | { type: 'plan'; total: number; cached: number; toEncode: number; shards: number }
  | { type: 'shard'; shard: string; images: number; completed: number; total: number }
  | { type: 'done'; total: number; encoded: number; shardsWritten: number };

/** What {@link buildLatentCache} did, and the cache to read. */
export interface LatentCacheBuildResult {
  cache: LatentCache;
  /** Distinct images in the manifest. */
  total: number;
  /** Images encoded by this call (0 when everything was cached). */
  encoded: number;
  /** Images found in the cache already. */
  cached: number;
  /** Shards written by this call. */
  shardsWritten: number;
}

interface IndexFile {
  format: typeof FORMAT;
  version: 1;
  configs: Record<string, { encoderId: string; preprocessing: CachePreprocessing }>;
  shards: Record<string, { config: string; keys: string[] }>;
  entries: Record<string, { shard: string; shape: number[] }>;
}

const sha256 = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

function toHex(bg: Background | undefined): string {
  if (bg === undefined) return '#ffffff';
  if (typeof bg === 'string') {
    const m = /^#?([0-9a-f]{6})$/i.exec(bg.trim());
    if (!m) throw new ConfigError(`Latent cache: background must be '#rrggbb' or { r, g, b }, got ${JSON.stringify(bg)}.`);
    return `#${m[1].toLowerCase()}`;
  }
  const h = (v: number) => Math.round(v).toString(16).padStart(2, '0');
  return `#${h(bg.r)}${h(bg.g)}${h(bg.b)}`;
}

/**
 * The normalised preprocessing of a cache built with these options.
 * @throws {ConfigError} for a missing or bad `size`, or an unknown `fit`.
 * @example
 * cachePreprocessing({ size: 64 }); // { size: [64, 64], fit: 'cover', crop: 'center', background: '#ffffff', version: 1 }
 */
export function cachePreprocessing(options: Pick<BuildLatentCacheOptions, 'size' | 'fit' | 'background'>): CachePreprocessing {
  const s = options.size;
  if (s === undefined) throw new ConfigError('Latent cache: size is required (a number or [height, width]).');
  const [h, w] = typeof s === 'number' ? [s, s] : [s[0], s[1]];
  if (![h, w].every((v) => Number.isInteger(v) && v > 0)) throw new ConfigError(`Latent cache: size must be positive integers, got ${JSON.stringify(s)}.`);
  const fit = options.fit ?? 'cover';
  if (!['cover', 'contain', 'fill'].includes(fit)) throw new ConfigError(`Latent cache: unknown fit ${JSON.stringify(fit)}. Expected one of: cover, contain, fill.`);
  return { size: [h, w], fit, crop: 'center', background: toHex(options.background), version: PREPROCESSING_VERSION };
}

/**
 * Config id: hash of encoder id + preprocessing (16 hex digits).
 * @example
 * cacheConfigId('identity', cachePreprocessing({ size: 64 })); // 16 hex digits
 */
export function cacheConfigId(encoderId: string, prep: CachePreprocessing): string {
  return sha256(JSON.stringify({ encoderId, preprocessing: prep })).slice(0, 16);
}

/**
 * sha256 (hex) of an image source's bytes.
 * @throws {MediaError} when a file cannot be read.
 * @example
 * await hashImageSource('img/cat.png'); // '9f86d0…'
 */
export async function hashImageSource(source: ImageSource): Promise<string> {
  if (typeof source !== 'string') return sha256(source);
  try {
    return sha256(await readFile(source));
  } catch (e) {
    throw new MediaError(`Cannot read image ${source}: ${(e as Error).message}`, { file: source, cause: e });
  }
}

const entryKey = (contentHash: string, configId: string) => sha256(`${contentHash}|${configId}`);

function emptyIndex(): IndexFile {
  return { format: FORMAT, version: 1, configs: {}, shards: {}, entries: {} };
}

async function readIndex(dir: string): Promise<IndexFile | null> {
  let text: string;
  try {
    text = await readFile(join(dir, INDEX), 'utf8');
  } catch {
    return null;
  }
  try {
    const j = JSON.parse(text) as IndexFile;
    if (j.format !== FORMAT || j.version !== 1 || typeof j.entries !== 'object' || typeof j.shards !== 'object' || typeof j.configs !== 'object') throw new Error('unknown format');
    return j;
  } catch (e) {
    throw new ConfigError(`Latent cache index ${join(dir, INDEX)} is not a prefkit latent-cache index (${(e as Error).message}); delete the folder to rebuild.`, {
      source: join(dir, INDEX),
    });
  }
}

async function writeIndex(dir: string, index: IndexFile): Promise<void> {
  const file = join(dir, INDEX);
  const tmp = join(dir, `.${INDEX}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  await writeFile(tmp, JSON.stringify(index));
  await rename(tmp, file);
}

const exists = (p: string) =>
  stat(p).then(
    () => true,
    () => false,
  );

/**
 * Bring the index in line with the folder: drop shards whose file is gone, adopt finished
 * shard files that a crash left out, remove temporary files of interrupted writes.
 */
async function reconcile(dir: string, index: IndexFile): Promise<boolean> {
  let changed = false;
  for (const [name, sh] of Object.entries(index.shards)) {
    if (!(await exists(join(dir, name)))) {
      for (const k of sh.keys) if (index.entries[k]?.shard === name) delete index.entries[k];
      delete index.shards[name];
      changed = true;
    }
  }
  for (const f of await readdir(dir)) {
    if (f.startsWith('.') && f.includes('.tmp-')) {
      await rm(join(dir, f), { force: true });
    } else if (/^shard-[0-9a-f]+\.safetensors$/.test(f) && !index.shards[f]) {
      try {
        const h = await readSafetensorsHeader(join(dir, f));
        const md = h.metadata;
        if (md.format !== FORMAT || !md.config || !md.encoderId || !md.preprocessing) continue;
        index.configs[md.config] ??= { encoderId: md.encoderId, preprocessing: JSON.parse(md.preprocessing) as CachePreprocessing };
        const keys = Object.keys(h.entries);
        index.shards[f] = { config: md.config, keys };
        for (const k of keys) index.entries[k] = { shard: f, shape: [...h.entries[k].shape] };
        changed = true;
      } catch {
        // unreadable shard: not ours to adopt; it will be ignored (and is never served)
      }
    }
  }
  return changed;
}

/**
 * Encode every image of a manifest once and store the latents as safetensors shards.
 *
 * Resumable: a rerun after a crash or an abort keeps finished shards and encodes only the
 * images that are missing; a changed image file gets a new key and is encoded again.
 *
 * @param manifest - pairs (from `readPairManifest`, `fromPickAPic`) or a list of them.
 * @param encoder - maps `[B, H, W, 3]` images to `[B, h, w, c]` latents; its `id` is part of the key.
 * @param outDir - the cache folder (created).
 * @param options - size (required), fit, background, maxPixels, shardSize, encodeBatch,
 *   concurrency, onProgress, signal ({@link BuildLatentCacheOptions}).
 * @returns what was done and the opened {@link LatentCache}.
 * @throws {MediaError} for an unreadable or bad image (the message names it); earlier shards stay.
 * @throws {PrefkitError} with code `ABORTED` when `signal` aborts.
 * @throws {ConfigError} for bad options.
 * @example
 * const { cache, encoded } = await buildLatentCache(manifest, identityEncoder, 'cache/', { size: 64, onProgress: console.log });
 * const ds = await PairDataset.fromLatentCache(manifest, cache, { batchSize: 8, seed: 0 });
 */
export async function buildLatentCache(
  manifest: PairManifest | readonly PreferencePair[],
  encoder: Encoder,
  outDir: string,
  options: BuildLatentCacheOptions,
): Promise<LatentCacheBuildResult> {
  const records = 'records' in manifest ? manifest.records : manifest;
  const prep = cachePreprocessing(options);
  if (!encoder || typeof encoder.id !== 'string' || encoder.id === '' || typeof encoder.encode !== 'function') {
    throw new ConfigError('buildLatentCache: encoder must have a non-empty string id and an encode(images) method.');
  }
  const shardSize = options.shardSize ?? 64;
  const encodeBatch = options.encodeBatch ?? 16;
  const concurrency = options.concurrency ?? 4;
  for (const [k, v] of Object.entries({ shardSize, encodeBatch, concurrency })) {
    if (!Number.isInteger(v) || v < 1) throw new ConfigError(`buildLatentCache: ${k} must be a positive integer, got ${v}.`);
  }
  const { signal } = options;
  const checkAbort = () => {
    if (signal?.aborted) throw new PrefkitError('ABORTED', `buildLatentCache into ${outDir} was aborted; finished shards are kept and a rerun resumes.`);
  };
  const emit = (e: LatentCacheProgress) => options.onProgress?.(e);
  const configId = cacheConfigId(encoder.id, prep);

  // 1. Distinct sources → content hash → entry key (identical bytes share one entry).
  const sources: ImageSource[] = [];
  const seenPath = new Set<string>();
  for (const r of records) {
    for (const s of [r.chosen, r.rejected]) {
      if (typeof s === 'string') {
        if (seenPath.has(s)) continue;
        seenPath.add(s);
      }
      sources.push(s);
    }
  }
  checkAbort();
  const hashes = await mapLimit(sources, concurrency, hashImageSource, signal);
  checkAbort();
  const keyToSource = new Map<string, ImageSource>();
  sources.forEach((s, i) => {
    const k = entryKey(hashes[i], configId);
    if (!keyToSource.has(k)) keyToSource.set(k, s);
  });
  const keys = [...keyToSource.keys()];

  // 2. Index: load, reconcile with the folder, find what is missing.
  await mkdir(outDir, { recursive: true });
  const index = (await readIndex(outDir)) ?? emptyIndex();
  if (await reconcile(outDir, index)) await writeIndex(outDir, index);
  index.configs[configId] = { encoderId: encoder.id, preprocessing: prep };
  const missing = keys.filter((k) => !index.entries[k]);
  const cached = keys.length - missing.length;
  const plan: string[][] = [];
  for (let i = 0; i < missing.length; i += shardSize) plan.push(missing.slice(i, i + shardSize));
  emit({ type: 'plan', total: keys.length, cached, toEncode: missing.length, shards: plan.length });

  // 3. Encode shard by shard; each shard is written atomically, then the index.
  let completed = cached;
  let encoded = 0;
  const loadOpts: LoadImageOptions = { size: prep.size, fit: prep.fit, crop: 'center', flip: false, background: prep.background, maxPixels: options.maxPixels };
  const [H, W] = prep.size;
  for (const shardKeys of plan) {
    checkAbort();
    const name = `shard-${sha256(`${configId}|${shardKeys.join(',')}`).slice(0, 16)}.safetensors`;
    const latents: Record<string, { data: Float32Array; shape: number[] }> = {};
    for (let i = 0; i < shardKeys.length; i += encodeBatch) {
      const chunk = shardKeys.slice(i, i + encodeBatch);
      const pixels = new Float32Array(chunk.length * H * W * 3);
      await mapLimit(
        chunk,
        concurrency,
        async (k, j) => {
          const d = await decodeImage(keyToSource.get(k)!, loadOpts);
          bytesToUnit(d.data, pixels, j * H * W * 3);
        },
        signal,
      );
      checkAbort();
      const lat = tf.tidy(() => encoder.encode(tf.tensor4d(pixels, [chunk.length, H, W, 3])));
      encoded += chunk.length;
      const shape = lat.shape.slice(1);
      if (lat.shape[0] !== chunk.length || shape.length === 0) {
        const got = lat.shape;
        lat.dispose();
        throw new ConfigError(`buildLatentCache: encoder '${encoder.id}' returned shape [${got.join(', ')}] for ${chunk.length} images; expected [${chunk.length}, ...].`);
      }
      const vals = (await lat.data()) as Float32Array; // sync point: one read per encode call
      lat.dispose();
      const n = shape.reduce((a, b) => a * b, 1);
      chunk.forEach((k, j) => (latents[k] = { data: vals.slice(j * n, (j + 1) * n), shape }));
    }
    checkAbort();
    const tensors: Record<string, tf.Tensor> = {};
    for (const k of shardKeys) tensors[k] = tf.tensor(latents[k].data, latents[k].shape, 'float32');
    try {
      await writeSafetensors(join(outDir, name), tensors, {
        format: FORMAT,
        version: '1',
        config: configId,
        encoderId: encoder.id,
        preprocessing: JSON.stringify(prep),
      });
    } finally {
      tf.dispose(Object.values(tensors));
    }
    index.shards[name] = { config: configId, keys: shardKeys };
    for (const k of shardKeys) index.entries[k] = { shard: name, shape: latents[k].shape };
    await writeIndex(outDir, index);
    completed += shardKeys.length;
    emit({ type: 'shard', shard: name, images: shardKeys.length, completed, total: keys.length });
  }
  if (plan.length === 0) await writeIndex(outDir, index); // records the config
  emit({ type: 'done', total: keys.length, encoded, shardsWritten: plan.length });
  const cache = new LatentCache(outDir, index, configId);
  return { cache, total: keys.length, encoded, cached, shardsWritten: plan.length };
}

/** A latent and its shape. */
export interface CachedLatent {
  data: Float32Array;
  shape: number[];
}

/**
 * Read access to a latent cache for one config (encoder id + preprocessing).
 * Lookups hash the source's current bytes, so a changed file is reported as missing,
 * never answered with the old latent.
 */
export class LatentCache {
  /** The cache folder. */
  readonly dir: string;
  /** Config id (hash of encoder id and preprocessing). */
  readonly configId: string;
  /** The encoder id of this config. */
  readonly encoderId: string;
  /** The preprocessing of this config. */
  readonly preprocessing: CachePreprocessing;
  private readonly index: IndexFile;

  /** @internal use {@link openLatentCache} or {@link buildLatentCache}. */
  constructor(dir: string, index: IndexFile, configId: string) {
    const cfg = index.configs[configId];
    if (!cfg) throw new ConfigError(`Latent cache ${dir} has no config ${configId}.`);
    this.dir = dir;
    this.index = index;
    this.configId = configId;
    this.encoderId = cfg.encoderId;
    this.preprocessing = cfg.preprocessing;
  }

  /** Entry keys of this config. */
  keys(): string[] {
    return Object.entries(this.index.shards)
      .filter(([, s]) => s.config === this.configId)
      .flatMap(([, s]) => s.keys);
  }

  /** Number of cached images of this config. */
  get size(): number {
    return this.keys().length;
  }

  /** The entry key of a source under this config (hashes its current bytes). @throws {MediaError} */
  async keyFor(source: ImageSource): Promise<string> {
    return entryKey(await hashImageSource(source), this.configId);
  }

  /** Whether `key` is cached. */
  has(key: string): boolean {
    const e = this.index.entries[key];
    return !!e && this.index.shards[e.shard]?.config === this.configId;
  }

  /**
   * Read latents by key, one shard read per shard involved.
   * @param keys - entry keys (see {@link keyFor}).
   * @returns key → `{ data, shape }`.
   * @throws {ConfigError} when a key is not cached. @throws {CheckpointError} for a damaged shard.
   */
  async read(keys: readonly string[]): Promise<Map<string, CachedLatent>> {
    const byShard = new Map<string, string[]>();
    for (const k of new Set(keys)) {
      if (!this.has(k)) throw new ConfigError(`Latent cache ${this.dir}: no entry ${k} for config ${this.configId}; run buildLatentCache.`);
      const s = this.index.entries[k].shard;
      byShard.set(s, [...(byShard.get(s) ?? []), k]);
    }
    const out = new Map<string, CachedLatent>();
    for (const [shard, names] of byShard) {
      const { tensors } = await readSafetensors(join(this.dir, shard), { names });
      try {
        for (const k of names) out.set(k, { data: (await tensors[k].data()) as Float32Array, shape: [...tensors[k].shape] });
      } finally {
        tf.dispose(Object.values(tensors));
      }
    }
    return out;
  }

  /**
   * The cached latent of an image, or `undefined` when this exact content is not cached
   * (a new or changed file).
   * @param source - a path or encoded bytes.
   * @returns a new tensor `[h, w, c]` the caller disposes, or undefined.
   */
  async get(source: ImageSource): Promise<tf.Tensor | undefined> {
    const k = await this.keyFor(source);
    if (!this.has(k)) return undefined;
    const v = (await this.read([k])).get(k)!;
    return tf.tensor(v.data, v.shape, 'float32');
  }

  /**
   * Latents of the chosen and rejected images of each pair.
   * @throws {ConfigError} listing images that are not cached (new or changed since the build).
   */
  async readPairs(records: readonly PreferencePair[]): Promise<{ chosen: CachedLatent; rejected: CachedLatent }[]> {
    const keys = await mapLimit(
      records.flatMap((r) => [r.chosen, r.rejected]),
      4,
      (s) => this.keyFor(s),
    );
    const missing = keys.map((k, i) => (this.has(k) ? -1 : i)).filter((i) => i >= 0);
    if (missing.length) {
      const name = (i: number) => {
        const s = i % 2 ? records[(i - 1) / 2].rejected : records[i / 2].chosen;
        return typeof s === 'string' ? s : `<bytes of pair ${Math.floor(i / 2)}>`;
      };
      throw new ConfigError(
        `Latent cache ${this.dir} lacks ${missing.length} image(s) for config ${this.configId} (new or changed since the build), e.g. ${missing.slice(0, 3).map(name).join(', ')}. Run buildLatentCache again.`,
      );
    }
    const got = await this.read(keys);
    return records.map((_, i) => ({ chosen: got.get(keys[2 * i])!, rejected: got.get(keys[2 * i + 1])! }));
  }
}

/**
 * Open a latent cache folder for reading.
 *
 * @param outDir - the folder given to {@link buildLatentCache}.
 * @param select - which config: `encoder` (an id or an Encoder) and, when the folder holds
 *   several configs for it, the preprocessing (`size`, `fit`, `background`). Optional when the
 *   folder holds a single config.
 * @returns the {@link LatentCache}.
 * @throws {ConfigError} when the folder has no index, or the config is missing or ambiguous.
 * @example
 * const cache = await openLatentCache('cache/');
 * const z = await cache.get('img/cat.png'); // [h, w, c] or undefined
 */
export async function openLatentCache(
  outDir: string,
  select: { encoder?: string | Encoder } & Partial<Pick<BuildLatentCacheOptions, 'size' | 'fit' | 'background'>> = {},
): Promise<LatentCache> {
  const index = await readIndex(outDir);
  if (!index) throw new ConfigError(`No latent cache at ${outDir} (no ${INDEX}); build one with buildLatentCache.`, { source: outDir });
  if (await reconcile(outDir, index)) await writeIndex(outDir, index);
  const encoderId = typeof select.encoder === 'string' ? select.encoder : select.encoder?.id;
  let ids = Object.keys(index.configs);
  if (encoderId !== undefined) ids = ids.filter((c) => index.configs[c].encoderId === encoderId);
  if (select.size !== undefined) {
    const want = JSON.stringify(cachePreprocessing({ size: select.size, fit: select.fit, background: select.background }));
    ids = ids.filter((c) => JSON.stringify(index.configs[c].preprocessing) === want);
  }
  if (ids.length !== 1) {
    const list = Object.entries(index.configs)
      .map(([id, c]) => `${id} (encoder ${c.encoderId}, size ${c.preprocessing.size.join('×')}, fit ${c.preprocessing.fit})`)
      .join('; ');
    throw new ConfigError(
      `Latent cache ${outDir}: ${ids.length === 0 ? 'no config matches' : 'several configs match'} the selection ${JSON.stringify({ encoder: encoderId, size: select.size, fit: select.fit })}. Configs: ${list || 'none'}.`,
      { source: outDir },
    );
  }
  return new LatentCache(outDir, index, ids[0]);
}
