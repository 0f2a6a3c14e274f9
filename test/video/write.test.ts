import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameStrip, probeVideo, readFrames, readVideo, runMedia, writeVideo, type RawFrame } from '../../src/video/index.js';
import { isConfigError, isMediaError } from '../../src/errors.js';
import { BLUE, LIME, RED, mediaChildren, near, px } from './_helpers.js';

let dir: string;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = mkdtempSync(join(tmpdir(), 'prefkit-write-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const COLOURS = [RED, LIME, BLUE, [255, 255, 0], [0, 255, 255], [255, 0, 255]] as const;

/** T frames of H x W: frame t is COLOURS[t] with a white 6x6 square at the top-left. In [-1, 1]. */
function clip(T: number, H: number, W: number): tf.Tensor4D {
  const d = new Float32Array(T * H * W * 3);
  for (let t = 0; t < T; t++)
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++)
        for (let c = 0; c < 3; c++) {
          const v = x < 6 && y < 6 ? 255 : COLOURS[t % COLOURS.length][c];
          d[((t * H + y) * W + x) * 3 + c] = v / 127.5 - 1;
        }
  return tf.tensor4d(d, [T, H, W, 3]);
}

async function frames(path: string): Promise<RawFrame[]> {
  const out: RawFrame[] = [];
  for await (const f of readFrames(path)) out.push(f);
  return out;
}

async function pixFmt(path: string): Promise<string> {
  const out = await runMedia('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=pix_fmt', '-of', 'csv=p=0', path]);
  return out.toString().trim();
}

describe('writeVideo', () => {
  it.each([
    ['mp4', 'h264', 'yuv420p', 10],
    ['webm', 'vp9', 'yuv420p', 16],
    ['gif', 'gif', 'bgra', 40],
  ] as const)('round-trips a clip through .%s (%s)', async (ext, codec, fmt, tol) => {
    const v = clip(6, 16, 24);
    const before = tf.memory().numTensors;
    const out = join(dir, `rt.${ext}`);
    expect(await writeVideo(v, out, { fps: 6 })).toBe(out);
    expect(tf.memory().numTensors).toBe(before);
    const info = await probeVideo(out);
    expect([info.codec, info.frameCount, info.width, info.height]).toEqual([codec, 6, 24, 16]);
    expect(Math.abs(info.fps - 6)).toBeLessThan(ext === 'gif' ? 0.2 : 1e-6); // gif delays are in 1/100 s
    if (ext !== 'gif') expect(await pixFmt(out)).toBe(fmt);
    const back = await frames(out);
    expect(back).toHaveLength(6);
    back.forEach((f, t) => {
      expect(px(f, 16, 10)).toSatisfy((c: number[]) => near(c, COLOURS[t], tol));
      expect(px(f, 2, 2)).toSatisfy((c: number[]) => near(c, [255, 255, 255], tol + 10)); // lossy chroma at an edge
    });
    v.dispose();
  });

  it('pads odd sizes to even for H.264 by repeating the edge pixels', async () => {
    const v = clip(2, 25, 33);
    const out = join(dir, 'odd.mp4');
    await writeVideo(v, out, { fps: 4 });
    const info = await probeVideo(out);
    expect([info.width, info.height]).toEqual([34, 26]);
    const [f] = await frames(out);
    expect(px(f, 33, 20)).toSatisfy((c: number[]) => near(c, RED)); // padded column repeats the red edge, not black
    expect(px(f, 20, 25)).toSatisfy((c: number[]) => near(c, RED));
    expect(px(f, 2, 2)).toSatisfy((c: number[]) => near(c, [255, 255, 255], 20));
    v.dispose();
  });

  it('accepts raw frames and a list of [H, W, 3] tensors', async () => {
    const v = clip(3, 8, 8);
    const list = tf.unstack(v) as tf.Tensor3D[];
    await writeVideo(list, join(dir, 'list.webm'), { fps: 3 });
    const raw = await frames(join(dir, 'list.webm'));
    await writeVideo(raw, join(dir, 'raw.mp4'), { fps: 3 });
    const again = await readVideo(join(dir, 'raw.mp4'));
    expect(again.shape).toEqual([3, 8, 8, 3]);
    const err = tf.tidy(() => again.sub(v).abs().mean().dataSync()[0]);
    expect(err).toBeLessThan(0.08);
    tf.dispose([v, ...list, again]);
  });

  it('rejects bad input with a ConfigError, leaving no file and no process', async () => {
    const v = clip(2, 8, 8);
    const bad = async (f: () => Promise<unknown>, msg: RegExp) => {
      const e = (await f().catch((x: unknown) => x)) as Error;
      expect(isConfigError(e)).toBe(true);
      expect(e.message).toMatch(msg);
    };
    await bad(() => writeVideo(v, join(dir, 'x.avi'), { fps: 4 }), /cannot tell the codec from "\.avi"/);
    await bad(() => writeVideo(v, join(dir, 'x.mp4'), { fps: 0 }), /fps must be a positive number, got 0/);
    await bad(() => writeVideo(tf.zeros([2, 8, 8]), join(dir, 'x.mp4'), { fps: 4 }), /shape \[2, 8, 8\], expected \[T, H, W, 3\]/);
    const mixed = [tf.zeros([8, 8, 3]), tf.zeros([6, 8, 3])];
    await bad(() => writeVideo(mixed, join(dir, 'mixed.mp4'), { fps: 4 }), /frame 1 is 8x6 .* expected 8x8 like frame 0/);
    expect(readdirSync(dir).filter((f) => f.startsWith('x.') || f.includes('mixed'))).toEqual([]);
    expect(mediaChildren()).toEqual([]);
    tf.dispose([v, ...mixed]);
  });

  it('reports an ffmpeg failure as a MediaError and removes the temporary file', async () => {
    const v = clip(2, 8, 8);
    // the output directory does not exist: ffmpeg starts, then fails to open its output
    const e = await writeVideo(v, join(dir, 'no-such-dir', 'fail.mp4'), { fps: 4 }).catch((x) => x);
    expect(isMediaError(e)).toBe(true);
    expect(e.stderrTail).toMatch(/No such file or directory/);
    expect(readdirSync(dir).filter((f) => f.includes('fail'))).toEqual([]);
    expect(mediaChildren()).toEqual([]);
    v.dispose();
  });
});

describe('frameStrip', () => {
  it('lays out one video per row with gaps, pixels in place', async () => {
    const a = clip(3, 8, 10);
    const b = tf.tidy(() => a.reverse(0)); // frames in the opposite order
    const path = join(dir, 'strip.png');
    const before = tf.memory().numTensors;
    const png = await frameStrip([a, b], { path, gap: 2 });
    expect(tf.memory().numTensors).toBe(before);
    const { data, info } = await sharp(path).raw().toBuffer({ resolveWithObject: true });
    expect(png.subarray(1, 4).toString()).toBe('PNG');
    expect([info.width, info.height]).toEqual([3 * 10 + 2 * 2, 2 * 8 + 2]);
    const at = (x: number, y: number) => [0, 1, 2].map((c) => data[(y * info.width + x) * info.channels + c]);
    expect(at(12 + 6, 5)).toEqual([...COLOURS[1]]); // row 0, frame 1
    expect(at(24 + 6, 10 + 5)).toEqual([...COLOURS[0]]); // row 1, frame 2 = a's frame 0
    expect(at(10, 3)).toEqual([255, 255, 255]); // gap
    tf.dispose([a, b]);
  });

  it('wraps a single video at `columns`', async () => {
    const a = clip(5, 4, 6);
    const png = await frameStrip(a, { columns: 2, gap: 0 });
    const meta = await sharp(png).metadata();
    expect([meta.width, meta.height]).toEqual([12, 12]);
    a.dispose();
  });

  it('rejects videos of different frame sizes', async () => {
    const a = tf.zeros([2, 4, 4, 3]);
    const b = tf.zeros([2, 4, 5, 3]);
    await expect(frameStrip([a, b])).rejects.toThrow(/video 1 has shape \[2, 4, 5, 3\], expected \[T, 4, 4, 3\]/);
    tf.dispose([a, b]);
  });
});
