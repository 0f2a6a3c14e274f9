import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { frameToTensor, readFrames, readVideo, type RawFrame, type ReadFramesOptions } from '../../src/video/index.js';
import { isConfigError, isMediaError } from '../../src/errors.js';
import { BLACK, BLUE, LIME, RED, mediaChildren, near, px, setupClips } from './_helpers.js';

let env: ReturnType<typeof setupClips>;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  env = setupClips();
});
afterAll(() => env.cleanup());

async function collect(path: string, o: ReadFramesOptions = {}): Promise<RawFrame[]> {
  const out: RawFrame[] = [];
  for await (const f of readFrames(path, o)) out.push(f);
  return out;
}

/** The quad picture at native size: red top-left, lime bottom-right, blue elsewhere. */
function expectQuad(f: RawFrame, w = 64, h = 48): void {
  expect([f.width, f.height, f.data.length]).toEqual([w, h, w * h * 3]);
  expect(px(f, (w / 4) | 0, (h / 4) | 0)).toSatisfy((c: number[]) => near(c, RED));
  expect(px(f, ((3 * w) / 4) | 0, ((3 * h) / 4) | 0)).toSatisfy((c: number[]) => near(c, LIME));
  expect(px(f, ((3 * w) / 4) | 0, (h / 4) | 0)).toSatisfy((c: number[]) => near(c, BLUE));
  expect(px(f, (w / 4) | 0, ((3 * h) / 4) | 0)).toSatisfy((c: number[]) => near(c, BLUE));
}

describe('readFrames', () => {
  it('streams every frame of an H.264 mp4 with the right pixels and times', async () => {
    const fr = await collect(env.clips.quadMp4);
    expect(fr).toHaveLength(20);
    fr.forEach((f, i) => {
      expect(f.index).toBe(i);
      expect(f.time).toBeCloseTo(i / 10, 9);
      expectQuad(f);
    });
  });

  it('decodes a VP9 webm: 1 s red, 1 s lime, 1 s blue', async () => {
    const fr = await collect(env.clips.seqWebm);
    expect(fr).toHaveLength(30);
    const want = (i: number) => (i < 10 ? RED : i < 20 ? LIME : BLUE);
    for (const f of fr) for (const [x, y] of [[3, 3], [16, 16], [28, 28]]) expect(near(px(f, x, y), want(f.index))).toBe(true);
  });

  it('resamples to a requested fps, seeks with start/duration, and stops at maxFrames', async () => {
    const half = await collect(env.clips.seqWebm, { fps: 5 });
    expect(half).toHaveLength(15);
    expect(half.map((f) => (near(px(f, 16, 16), RED) ? 'r' : near(px(f, 16, 16), LIME) ? 'g' : near(px(f, 16, 16), BLUE) ? 'b' : '?')).join('')).toBe('rrrrrgggggbbbbb');
    const mid = await collect(env.clips.seqWebm, { start: 1, duration: 1 });
    expect(mid).toHaveLength(10);
    expect(mid.every((f) => near(px(f, 16, 16), LIME))).toBe(true);
    expect(mid[0].time).toBeCloseTo(1, 9);
    expect(await collect(env.clips.seqWebm, { maxFrames: 4 })).toHaveLength(4);
  });

  it('turns variable frame rate into the requested constant rate', async () => {
    // 10 red frames at 0.0..0.9 s, then 5 blue frames at 1.0, 1.2, ... 1.8 s
    const raw = await collect(env.clips.vfrMp4);
    expect(raw).toHaveLength(15);
    const cfr = await collect(env.clips.vfrMp4, { fps: 10 });
    expect(cfr).toHaveLength(19); // one frame per 0.1 s from 0.0 to 1.8
    const colours = cfr.map((f) => (near(px(f, 16, 16), RED) ? 'r' : near(px(f, 16, 16), BLUE) ? 'b' : '?')).join('');
    expect(colours).toBe('r'.repeat(10) + 'b'.repeat(9));
  });

  it('keeps odd frame sizes (VP9 4:2:0 and H.264 4:4:4)', async () => {
    for (const clip of [env.clips.oddWebm, env.clips.oddMp4]) {
      const fr = await collect(clip);
      expect(fr).toHaveLength(10);
      for (const f of fr) {
        expect([f.width, f.height]).toEqual([33, 25]);
        expect(near(px(f, 4, 4), BLUE)).toBe(true); // the 16x12 box
        expect(near(px(f, 24, 18), RED)).toBe(true);
        expect(near(px(f, 32, 24), RED)).toBe(true); // the odd last column/row
      }
    }
  });

  it('honours rotation metadata (frames come out upright at the display size)', async () => {
    // rot90Mp4 displays 90° counter-clockwise: the red top-left quadrant moves to bottom-left
    const a = await collect(env.clips.rot90Mp4, { maxFrames: 2 });
    expect([a[0].width, a[0].height]).toEqual([48, 64]);
    expect(near(px(a[0], 12, 48), RED)).toBe(true);
    expect(near(px(a[0], 36, 16), LIME)).toBe(true);
    expect(near(px(a[0], 12, 16), BLUE)).toBe(true);
    // rot270Mp4 displays 90° clockwise: red moves to top-right, lime to bottom-left
    const b = await collect(env.clips.rot270Mp4, { maxFrames: 2 });
    expect([b[0].width, b[0].height]).toEqual([48, 64]);
    expect(near(px(b[0], 36, 16), RED)).toBe(true);
    expect(near(px(b[0], 12, 48), LIME)).toBe(true);
  });

  it('reads the picture of a file with an audio track', async () => {
    const fr = await collect(env.clips.audioMp4);
    expect(fr).toHaveLength(20);
    expectQuad(fr[19]);
  });

  it('resizes with cover, contain and fill', async () => {
    const [cover] = await collect(env.clips.quadMp4, { size: 16, maxFrames: 1 }); // 64x48 -> 21x16, crop centre
    expect([cover.width, cover.height]).toEqual([16, 16]);
    expect(near(px(cover, 2, 2), RED)).toBe(true);
    expect(near(px(cover, 13, 13), LIME)).toBe(true);
    const [contain] = await collect(env.clips.quadMp4, { size: 16, fit: 'contain', maxFrames: 1 }); // 16x12 + 2 rows black top and bottom
    expect(near(px(contain, 8, 0), BLACK)).toBe(true);
    expect(near(px(contain, 8, 15), BLACK)).toBe(true);
    expect(near(px(contain, 3, 4), RED)).toBe(true);
    expect(near(px(contain, 12, 11), LIME)).toBe(true);
    const [fill] = await collect(env.clips.quadMp4, { size: { width: 8, height: 20 }, fit: 'fill', maxFrames: 1 });
    expect([fill.width, fill.height]).toEqual([8, 20]);
    expect(near(px(fill, 1, 2), RED)).toBe(true);
    expect(near(px(fill, 6, 17), LIME)).toBe(true);
  });

  it.each([
    ['zero-byte', 'zeroByte', /empty \(0-byte\) file/],
    ['non-video', 'textFile', /Invalid data found/],
    ['audio-only', 'audioOnly', /No video stream/],
    ['truncated mp4', 'truncatedMp4', /moov atom not found/],
    ['truncated webm', 'truncatedWebm', /reported errors after \d+ frame\(s\)[\s\S]*File ended prematurely/],
    ['corrupt mp4', 'corruptMp4', /reported errors after \d+ frame\(s\)[\s\S]*(Invalid NAL unit|error while decoding|Invalid data)/],
  ] as const)('gives a MediaError with ffmpeg\'s stderr for a %s file, and no leftover process', async (_, name, msg) => {
    const err = await collect(env.clips[name]).catch((e) => e);
    expect(isMediaError(err)).toBe(true);
    expect(err.message).toMatch(msg);
    if (name !== 'audioOnly') expect(err.stderrTail).toBeTruthy();
    expect(mediaChildren()).toEqual([]);
  });

  it('accepts the frames that decoded from a truncated file when strict is off', async () => {
    const fr = await collect(env.clips.truncatedWebm, { strict: false });
    expect(fr.length).toBeGreaterThan(0);
    expect(fr.length).toBeLessThan(30);
  });

  it('kills ffmpeg when the consumer breaks out early', async () => {
    let n = 0;
    for await (const f of readFrames(env.clips.longMp4)) {
      expect(f.index).toBe(n);
      if (++n === 3) {
        expect(mediaChildren().map((c) => c.comm)).toEqual(['ffmpeg']);
        break;
      }
    }
    expect(mediaChildren()).toEqual([]);
  });

  it('kills ffmpeg on timeout while the consumer is slow', async () => {
    const it = readFrames(env.clips.longMp4, { timeoutMs: 1500 });
    expect((await it.next()).done).toBe(false);
    const pid = mediaChildren()[0]?.pid;
    expect(pid).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1800));
    const err = await it.next().catch((e) => e);
    expect(isMediaError(err) && err.code).toBe('ABORTED');
    expect(err.message).toMatch(/timed out/);
    expect(mediaChildren()).toEqual([]);
  });

  it('kills ffmpeg on abort', async () => {
    const ac = new AbortController();
    const seen: number[] = [];
    const err = await (async () => {
      for await (const f of readFrames(env.clips.longMp4, { signal: ac.signal })) {
        seen.push(f.index);
        if (f.index === 1) ac.abort();
      }
    })().catch((e) => e);
    expect(isMediaError(err) && err.code).toBe('ABORTED');
    expect(seen.length).toBeLessThan(500);
    expect(mediaChildren()).toEqual([]);
    await expect(collect(env.clips.quadMp4, { signal: ac.signal })).rejects.toThrow(/Aborted before starting/);
  });

  it('rejects bad options with a ConfigError', async () => {
    for (const o of [{ fps: 0 }, { maxFrames: 1.5 }, { size: 0 }, { start: -1 }, { fit: 'stretch' as never, size: 8 }]) {
      const err = await collect(env.clips.quadMp4, o).catch((e) => e);
      expect(isConfigError(err)).toBe(true);
    }
    expect(mediaChildren()).toEqual([]);
  });
});

describe('readVideo', () => {
  it('returns [T, H, W, 3] float32 in [-1, 1] matching the frames', async () => {
    const before = tf.memory().numTensors;
    const v = await readVideo(env.clips.quadMp4, { size: { width: 16, height: 12 }, fit: 'fill', maxFrames: 5 });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(v.shape).toEqual([5, 12, 16, 3]);
    expect(v.dtype).toBe('float32');
    const d = await v.data();
    expect(Math.min(...d)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...d)).toBeLessThanOrEqual(1);
    const at = (t: number, y: number, x: number) => [0, 1, 2].map((c) => d[((t * 12 + y) * 16 + x) * 3 + c]);
    for (const [a, b] of at(4, 2, 3).map((v, i) => [v, [1, -1, -1][i]])) expect(Math.abs(a - b)).toBeLessThan(0.1); // red
    for (const [a, b] of at(0, 9, 12).map((v, i) => [v, [-1, 1, -1][i]])) expect(Math.abs(a - b)).toBeLessThan(0.1); // lime
    const [f0] = await collect(env.clips.quadMp4, { size: { width: 16, height: 12 }, fit: 'fill', maxFrames: 1 });
    const t0 = frameToTensor(f0);
    expect(t0.shape).toEqual([12, 16, 3]);
    const diff = tf.tidy(() => v.slice([0, 0, 0, 0], [1, 12, 16, 3]).reshape([12, 16, 3]).sub(t0).abs().max().dataSync()[0]);
    expect(diff).toBe(0);
    tf.dispose([v, t0]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('errors when no frame is decoded', async () => {
    await expect(readVideo(env.clips.quadMp4, { start: 10 })).rejects.toThrow(/No frames decoded/);
  });
});
