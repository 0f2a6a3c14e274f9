/**
 * Video decode throughput: frames per second decoded to tensors at 256×256, for
 * - `readFrames` alone (ffmpeg decode + scale/crop + rgb24 over a pipe, bytes only),
 * - `readVideo` (the same, collected into one float32 `[T, 256, 256, 3]` tensor in [-1, 1]),
 * - `readFrames` + `frameToTensor` per frame (streaming, each tensor disposed),
 * - `readVideo` with `fps: 8` (resampling: frames out per second of wall time),
 * and `writeVideo` encoding a `[64, 256, 256, 3]` tensor to H.264 and VP9.
 * Sources: 10 s testsrc2 clips made with ffmpeg's lavfi at 30 fps (300 frames): 1280×720 H.264,
 * 640×360 H.264 and 640×360 VP9, in a temp dir.
 * Run: `npx tsx bench/video.bench.ts` (or `npm run bench -- video`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../src/core/engine.js';
import { frameToTensor, probeVideo, readFrames, readVideo, resolveFfmpeg, writeVideo } from '../src/video/index.js';

await initEngine({ backend: 'wasm' });
const SIZE = 256;
const dir = await mkdtemp(join(tmpdir(), 'prefkit-video-bench-'));
const ffmpeg = (await resolveFfmpeg()).path;
function make(name: string, size: string, codec: string[]): string {
  const out = join(dir, name);
  const r = spawnSync(ffmpeg, ['-v', 'error', '-y', '-f', 'lavfi', '-i', `testsrc2=s=${size}:r=30:d=10`, ...codec, '-pix_fmt', 'yuv420p', out]);
  if (r.status !== 0) throw new Error(`making ${name} failed: ${r.stderr}`);
  return out;
}

const rows: string[][] = [];
async function time(label: string, fn: () => Promise<number>, repeats = 3): Promise<void> {
  await fn(); // warm-up
  const s: number[] = [];
  let frames = 0;
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    frames = await fn();
    s.push((performance.now() - t0) / 1000);
  }
  s.sort((x, y) => x - y);
  const med = s[Math.floor(s.length / 2)];
  rows.push([label, String(frames), med.toFixed(3), (frames / med).toFixed(1), (frames / s[0]).toFixed(1)]);
}

try {
  const h264 = ['-c:v', 'libx264', '-preset', 'veryfast', '-crf', '20'];
  const vp9 = ['-c:v', 'libvpx-vp9', '-deadline', 'realtime', '-cpu-used', '8', '-crf', '30', '-b:v', '0'];
  const sources = [
    ['1280×720 H.264', make('720p.mp4', '1280x720', h264)],
    ['640×360 H.264', make('360p.mp4', '640x360', h264)],
    ['640×360 VP9', make('360p.webm', '640x360', vp9)],
  ] as const;
  for (const [name, file] of sources) {
    const info = await probeVideo(file);
    if (info.frameCount !== 300) throw new Error(`${name}: expected 300 frames, got ${info.frameCount}`);
    await time(`${name} → readFrames ${SIZE}² (bytes only)`, async () => {
      let n = 0;
      for await (const f of readFrames(file, { size: SIZE })) n += f.data.length > 0 ? 1 : 0;
      return n;
    });
    await time(`${name} → readVideo ${SIZE}² → [T, ${SIZE}, ${SIZE}, 3] tensor`, async () => {
      const v = await readVideo(file, { size: SIZE });
      const n = v.shape[0];
      v.dispose();
      return n;
    });
    await time(`${name} → readFrames + frameToTensor per frame`, async () => {
      let n = 0;
      for await (const f of readFrames(file, { size: SIZE })) {
        frameToTensor(f).dispose();
        n++;
      }
      return n;
    });
  }
  await time(`1280×720 H.264 → readVideo ${SIZE}² at fps 8 (frames out)`, async () => {
    const v = await readVideo(sources[0][1], { size: SIZE, fps: 8 });
    const n = v.shape[0];
    v.dispose();
    return n;
  });
  const clip = tf.tidy(() => tf.randomUniform([64, SIZE, SIZE, 3], -1, 1, 'float32', 1).mul(0.2).add(tf.linspace(-0.8, 0.8, SIZE).reshape([1, 1, SIZE, 1])));
  for (const ext of ['mp4', 'webm'] as const) {
    await time(`writeVideo [64, ${SIZE}, ${SIZE}, 3] → ${ext === 'mp4' ? 'H.264 mp4' : 'VP9 webm'}`, async () => {
      await writeVideo(clip, join(dir, `out.${ext}`), { fps: 8 });
      return 64;
    });
  }
  clip.dispose();
} finally {
  await rm(dir, { recursive: true, force: true });
}
const v = spawnSync(ffmpeg, ['-version'], { encoding: 'utf8' }).stdout.split('\n')[0];
console.log(`\n${v}; tfjs backend ${tf.getBackend()}; cover resize to ${SIZE}×${SIZE}\n`);
console.log('| pipeline | frames | seconds (median of 3) | frames/s (median) | frames/s (best) |');
console.log('|---|---:|---:|---:|---:|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
