/**
 * Image and latent-cache throughput: images per second for
 * - load → resize 512 → 64 → float32 tensor (`loadImage`, one at a time; `loadImages`, batches of 16
 *   with 4 decodes in flight), from 512×512 JPEG and PNG files;
 * - `buildLatentCache` (identity encoder, size 64, shards of 64): a cold build, and a rerun that
 *   finds everything cached (hashing + index only).
 * Sources: N synthetic 512×512 photos-like images (smooth gradients + noise), written to a temp dir.
 * Run: `npx tsx bench/images.bench.ts` (or `npm run bench -- images`). N via IMAGES_BENCH_N (default 64).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/core/engine.js';
import { createRng } from '../src/core/random.js';
import { loadImage, loadImages } from '../src/image/load.js';
import { buildLatentCache } from '../src/data/latent-cache.js';
import { identityEncoder } from '../src/data/encoder.js';
import type { PreferencePair } from '../src/data/manifest.js';

const N = Number(process.env.IMAGES_BENCH_N ?? 64);
const SIDE = 512;
const OUT = 64;
await initEngine({ backend: 'wasm' });
const rng = createRng('images-bench');

function photo(): Buffer {
  const px = Buffer.alloc(SIDE * SIDE * 3);
  const [a, b, c] = [rng.uniformIn(0.5, 2), rng.uniformIn(0.5, 2), rng.uniformIn(0, 6)];
  for (let y = 0; y < SIDE; y++)
    for (let x = 0; x < SIDE; x++) {
      const i = (y * SIDE + x) * 3;
      const n = rng.int(-12, 13);
      px[i] = Math.max(0, Math.min(255, 128 + 100 * Math.sin((a * x) / 60 + c) + n));
      px[i + 1] = Math.max(0, Math.min(255, 128 + 100 * Math.cos((b * y) / 45) + n));
      px[i + 2] = Math.max(0, Math.min(255, ((x + y) * 255) / (2 * SIDE) + n));
    }
  return px;
}

const dir = await mkdtemp(join(tmpdir(), 'prefkit-images-bench-'));
const jpgs: string[] = [];
const pngs: string[] = [];
for (let i = 0; i < N; i++) {
  const raw = sharp(photo(), { raw: { width: SIDE, height: SIDE, channels: 3 } });
  jpgs.push(join(dir, `img-${i}.jpg`));
  pngs.push(join(dir, `img-${i}.png`));
  await writeFile(jpgs[i], await raw.clone().jpeg({ quality: 90 }).toBuffer());
  await writeFile(pngs[i], await raw.clone().png().toBuffer());
}

const rows: string[][] = [];
async function time(label: string, images: number, fn: () => Promise<void>, repeats = 3): Promise<void> {
  await fn(); // warm-up
  const s: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await fn();
    s.push((performance.now() - t0) / 1000);
  }
  s.sort((x, y) => x - y);
  const med = s[Math.floor(s.length / 2)];
  rows.push([label, String(images), med.toFixed(3), (images / med).toFixed(1), (images / s[0]).toFixed(1)]);
}

try {
  for (const [kind, files] of [['JPEG', jpgs], ['PNG', pngs]] as const) {
    await time(`loadImage ${kind} 512 → ${OUT}, one at a time`, N, async () => {
      for (const f of files) (await loadImage(f, { size: OUT })).dispose();
    });
    await time(`loadImages ${kind} 512 → ${OUT}, batches of 16, 4 in flight`, N, async () => {
      for (let i = 0; i < files.length; i += 16) (await loadImages(files.slice(i, i + 16), { size: OUT, concurrency: 4 })).dispose();
    });
  }
  const pairs: PreferencePair[] = [];
  for (let i = 0; i < N; i += 2) pairs.push({ prompt: `p${i}`, chosen: jpgs[i], rejected: jpgs[i + 1] ?? jpgs[0], label: 1 });
  let k = 0;
  await time(`buildLatentCache JPEG → ${OUT}, identity encoder, cold`, N, async () => {
    await buildLatentCache(pairs, identityEncoder, join(dir, `cache-${k++}`), { size: OUT, shardSize: 64, concurrency: 4 });
  });
  const warm = join(dir, 'cache-warm');
  await buildLatentCache(pairs, identityEncoder, warm, { size: OUT, shardSize: 64 });
  await time(`buildLatentCache rerun, all cached (hash + index)`, N, async () => {
    const r = await buildLatentCache(pairs, identityEncoder, warm, { size: OUT, shardSize: 64 });
    if (r.encoded !== 0) throw new Error('rerun encoded images');
  });
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log(`\nsharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), libvips threads ${sharp.concurrency()}, tfjs backend ${tf.getBackend()}, N = ${N}\n`);
console.log('| pipeline | images | seconds (median of 3) | images/s (median) | images/s (best) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
