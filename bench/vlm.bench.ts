/**
 * VLM labelling throughput: labels per second through `openAIJudge` + `labelPairs` against the
 * local fake OpenAI-compatible server (test/vlm/helpers/fake-openai-server.ts) at concurrency
 * 1, 4 and 16, with 0 ms (client overhead: JPEG encoding, hashing, HTTP, cache writes) and
 * 50 ms of simulated model latency per reply. Images: 128×128 RGB noise PNGs, sent at maxSide 128.
 * Run: `npx tsx bench/vlm.bench.ts` (or `npm run bench -- vlm`).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { createRng } from '../src/core/random.js';
import { labelPairs, openAIJudge, type LabelPairRecord } from '../src/vlm/index.js';
import { startFakeServer } from '../test/vlm/helpers/fake-openai-server.js';

const N = Number(process.env.VLM_BENCH_PAIRS ?? 128);
const rng = createRng('vlm-bench');
async function noisePng(side: number): Promise<Uint8Array> {
  const px = Buffer.alloc(side * side * 3);
  for (let i = 0; i < px.length; i++) px[i] = rng.int(0, 256);
  return new Uint8Array(await sharp(px, { raw: { width: side, height: side, channels: 3 } }).png().toBuffer());
}

const records: LabelPairRecord[] = [];
for (let i = 0; i < N; i++) records.push({ prompt: `item-${i}`, chosen: await noisePng(128), rejected: await noisePng(128) });

const dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-bench-'));
const rows: string[] = [];
try {
  for (const latencyMs of [0, 50]) {
    const server = await startFakeServer({ latencyMs });
    try {
      for (const concurrency of [1, 4, 16]) {
        const judge = openAIJudge({ baseURL: server.baseURL, model: 'bench', maxSide: 128, concurrency, cacheFile: join(dir, `c${latencyMs}-${concurrency}.jsonl`) });
        // Warm-up on 2 pairs not in the timed set.
        await labelPairs(records.slice(0, 2).map((r) => ({ ...r, prompt: `warm ${r.prompt}` })), judge, { concurrency });
        const before = judge.stats.requests;
        const t0 = performance.now();
        const res = await labelPairs(records, judge, { concurrency });
        const s = (performance.now() - t0) / 1000;
        if (res.summary.labelled !== N) throw new Error(`only ${res.summary.labelled}/${N} labelled`);
        rows.push(`| ${latencyMs} | ${concurrency} | ${N} | ${s.toFixed(2)} | ${(N / s).toFixed(1)} | ${judge.stats.requests - before} |`);
      }
    } finally {
      await server.close();
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
console.log('| server latency (ms) | concurrency | pairs | seconds | labels/s | requests |');
console.log('|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
