import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/video/index.js';
import { DEFAULTS, QUICK, runExample } from '../../examples/video-dense-dpo/train.js';
import { segmentQuality } from '../../examples/video-dense-dpo/judge.js';
import { renderClip, randomSpec, WORLD, createRng } from '../../examples/video-dense-dpo/world.js';
import { mediaChildren } from './_helpers.js';

const out = mkdtempSync(join(tmpdir(), 'prefkit-dense-example-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('examples/video-dense-dpo judge', () => {
  it('gives a clean world clip a near-perfect score and penalises flicker, speckles and a vanished shape', () => {
    const T = WORLD.frames;
    const spec = { ...randomSpec(createRng(3)), colour: 0, radius: 3 };
    const clean = renderClip(spec);
    const q = segmentQuality(clean, T);
    expect(q.vanish).toBe(0);
    expect(q.colourDrift).toBeLessThan(0.05);
    expect(q.bgNoise).toBeLessThan(0.03); // anti-aliased edge pixels below the mask threshold
    expect(q.score).toBeGreaterThan(-0.35);
    const flicker = clean.slice();
    const px = WORLD.size * WORLD.size * 3;
    for (let i = 3 * px; i < 4 * px; i++) flicker[i] = clean[i] * 0.6; // frame 3 dimmed
    expect(segmentQuality(flicker, T).score).toBeLessThan(q.score - 0.05);
    const speckled = clean.slice();
    for (let i = 0; i < speckled.length; i += 37) speckled[i] += 0.5;
    expect(segmentQuality(speckled, T).bgNoise).toBeGreaterThan(q.bgNoise + 0.01);
    const gone = clean.slice();
    gone.fill(-0.8, 0, 2 * px); // first two frames are plain background... roughly
    expect(segmentQuality(gone, T).vanish).toBeGreaterThan(0);
  });
});

describe('examples/video-dense-dpo --quick', () => {
  it('runs end to end on the bundled model and writes its report', async () => {
    const logs: string[] = [];
    const before = tf.memory().numTensors;
    const report = await runExample({ ...QUICK, out }, (s) => logs.push(s));
    expect(logs.at(-1)).toMatch(/^done in \d+ s/);
    const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
    expect(json.results.map((r: { model: string }) => r.model)).toEqual(['base', 'dense-dpo', 'video-dpo'].filter((m) => m === 'base' || report.curves[m]));
    expect(json.labels.pairs).toBe(QUICK.pairs);
    expect(json.labels.segmentsPerPair).toBe(WORLD.frames / DEFAULTS.segmentFrames);
    for (const r of json.results) for (const k of ['segmentScore', 'guidedScore', 'clipScore', 'colourDrift', 'bgNoise', 'winRate']) expect(Number.isFinite(r[k])).toBe(true);
    for (const curve of Object.values(json.curves) as Array<Array<{ step: number; loss: number }>>) {
      expect(curve.at(-1)!.step).toBe(QUICK.trainSteps);
      expect(Number.isFinite(curve.at(-1)!.loss)).toBe(true);
    }
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    expect(md).toMatch(/\| base \| 0 \|/);
    const strip = await sharp(join(out, 'samples.png')).metadata();
    const models = json.results.length;
    expect(strip.height).toBe(models * QUICK.evalVideos! * (WORLD.size + 1) - 1);
    expect(strip.width).toBe(WORLD.frames * (WORLD.size + 1) - 1);
    const mp4 = await probeVideo(join(out, 'samples.mp4'));
    expect([mp4.frameCount, mp4.width, mp4.height, mp4.codec]).toEqual([WORLD.frames, QUICK.evalVideos! * WORLD.size, models * WORLD.size, 'h264']);
    expect(readFileSync(join(out, 'dense-dpo', 'metrics.jsonl'), 'utf8').trim().split('\n').length).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(mediaChildren()).toEqual([]);
  });
});
