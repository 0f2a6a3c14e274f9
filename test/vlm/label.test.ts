import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isConfigError, isShapeError } from '../../src/errors.js';
import type { PreferencePair } from '../../src/data/index.js';
import { functionJudge, labelPairs, type LabelPairRecord, labelSegments, openAIJudge, segmentBounds, type JudgeMedia, type LabelEvent } from '../../src/vlm/index.js';
import { meanBrightness, startFakeServer, type FakeServer } from './helpers/fake-openai-server.js';
import { solidPng } from './helpers/media.js';

let dir: string;
let s: FakeServer | undefined;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-label-'));
});
afterEach(async () => {
  await s?.close();
  s = undefined;
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Brightness of the first byte-image: a programmatic reward. */
const redness = async (m: JudgeMedia) => (m.kind === 'image' && m.path ? Number(/r(\d+)\.png$/.exec(m.path)![1]) : 0);

describe('labelPairs', () => {
  it("accepts the data layer's PreferencePair records as they are (type check)", () => {
    const pair: PreferencePair = { prompt: 'p', chosen: 'a.png', rejected: new Uint8Array([1]), label: 1 };
    const rec: LabelPairRecord = pair;
    expect(rec.prompt).toBe('p');
  });

  it('labels pairs from paths with hard and soft labels, and scores agreement with human labels', async () => {
    for (const r of [10, 20, 30, 40]) await writeFile(join(dir, `r${r}.png`), await solidPng(r, 0, 0));
    const records = [
      { prompt: 'a', chosen: 'r40.png', rejected: 'r10.png', label: 1 },
      { prompt: 'b', chosen: 'r10.png', rejected: 'r30.png', label: 1 }, // judge disagrees
      { prompt: 'c', chosen: 'r20.png', rejected: 'r20.png', label: 0.5 },
      { prompt: 'd', chosen: 'r20.png', rejected: 'r30.png', label: 0 },
    ];
    const events: LabelEvent[] = [];
    const res = await labelPairs(records, functionJudge(redness, { temperature: 10 }), { baseDir: dir, onProgress: (e) => events.push(e) });
    expect(res.labels.map((l) => l.label)).toEqual([1, 0, 0.5, 0]);
    expect(res.labels[0]!.p).toBeCloseTo(1 / (1 + Math.exp(-3)), 12);
    expect(res.labels[1]!.p).toBeCloseTo(1 / (1 + Math.exp(2)), 12);
    expect(res.summary).toMatchObject({ total: 4, labelled: 4, failed: 0 });
    // 3 of 4 agree; confusion pred x human: first-first 1, second-first 1, tie-tie 1, second-second 1.
    // p_o = 0.75; marginals pred (1, 2, 1), human (2, 1, 1): p_e = (2 + 2 + 1)/16 = 5/16; kappa = (0.75 - 5/16)/(11/16) = 7/11.
    expect(res.agreement!.accuracy).toBeCloseTo(0.75, 12);
    expect(res.agreement!.kappa).toBeCloseTo(7 / 11, 12);
    const dones = events.filter((e) => e.type === 'item').map((e) => (e as { done: number }).done);
    expect(dones).toEqual([1, 2, 3, 4]);
    expect(events.at(-1)).toMatchObject({ type: 'done', summary: { labelled: 4 } });
  });
  it('reports a missing file as a failure and goes on', async () => {
    const res = await labelPairs(
      [
        { prompt: 'a', chosen: 'r40.png', rejected: 'nope.png' },
        { prompt: 'b', chosen: 'r40.png', rejected: 'r10.png' },
      ],
      functionJudge(redness),
      { baseDir: dir },
    );
    expect(res.summary).toMatchObject({ labelled: 1, failed: 1 });
    expect(res.failures[0]).toMatchObject({ index: 0 });
    expect(res.agreement).toBeUndefined();
  });
});

describe('labelSegments', () => {
  it('splits into segments, the last one shorter', () => {
    expect(segmentBounds(10, 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
  });

  it('labels aligned segments on DenseDPO criteria through the server, from frame content', async () => {
    // videoA bright then dark, videoB dark then bright (T=10, 2 segments of 5).
    const T = 10;
    const level = (t: number, flip: boolean) => ((t < 5) !== flip ? 0.8 : -0.8);
    const make = (flip: boolean) => tf.tidy(() => tf.stack(Array.from({ length: T }, (_, t) => tf.fill([6, 8, 3], level(t, flip))))); // [10, 6, 8, 3]
    const a = make(false);
    const b = make(true);
    s = await startFakeServer({
      answer: async (r) => {
        const [x, y] = [await meanBrightness(r.images[0]!), await meanBrightness(r.images[1]!)];
        if (r.text.includes('Judge motion only')) return { preference: 'tie', confidence: 0.3, rationale: 'same motion' };
        return { preference: x > y ? 'first' : 'second', confidence: 0.9, rationale: `brightness ${x.toFixed(0)} vs ${y.toFixed(0)}` };
      },
    });
    const judge = openAIJudge({ baseURL: s.baseURL, model: 'fake-vlm', timeoutMs: 2000, maxRetries: 1, baseDelayMs: 5, framesPerSegment: 3 });
    const before = tf.memory().numTensors;
    const res = await labelSegments(a, b, judge, { segmentSeconds: 0.5, fps: 10, prompt: 'item-0 a lamp' });
    expect(tf.memory().numTensors).toBe(before);
    expect(res.labels).toEqual([1, -1]);
    expect(res.softLabels[0]!).toBeCloseTo((0.95 + 0.5 + 0.95) / 3, 12);
    expect(res.segments[1]).toMatchObject({ startFrame: 5, endFrame: 10, startSeconds: 0.5, endSeconds: 1, status: 'labelled', preference: 'second' });
    expect(Object.keys(res.segments[0]!.criteria)).toEqual(['visual quality', 'motion', 'prompt alignment']);
    expect(s.requests).toHaveLength(6);
    expect(s.requests.filter((r) => r.text.includes('segment 2 of 2: frames 5–9 (0.50 s to 1.00 s)'))).toHaveLength(3);
    expect(s.requests.every((r) => r.images.length === 2)).toBe(true);
    a.dispose();
    b.dispose();
  });

  it('keeps going when some criteria fail, and fails a segment only when all do', async () => {
    s = await startFakeServer({ fault: (r) => (r.text.includes('Judge motion only') || r.text.includes('segment 2 of 2') ? { kind: 'status', status: 500 } : undefined) });
    const judge = openAIJudge({ baseURL: s.baseURL, model: 'fake-vlm', timeoutMs: 2000, maxRetries: 1, baseDelayMs: 1, maxDelayMs: 2 });
    const v = tf.zeros([4, 4, 4, 3]);
    const res = await labelSegments(v, v, judge, { segmentFrames: 2, criteria: ['visual quality', 'motion'] });
    expect(res.segments[0]).toMatchObject({ status: 'labelled', label: 1 });
    expect(res.segments[0]!.error).toMatch(/motion: .*HTTP 500/);
    expect(res.segments[1]).toMatchObject({ status: 'failed' });
    expect(res.labels).toEqual([1, null]);
    expect(res.failures).toHaveLength(1);
    expect(res.summary).toMatchObject({ total: 2, labelled: 1, failed: 1 });
    v.dispose();
  });

  it('accepts frame file paths', async () => {
    const pa: string[] = [];
    const pb: string[] = [];
    for (let t = 0; t < 4; t++) {
      pa.push(join(dir, `a${t}.png`));
      pb.push(join(dir, `b${t}.png`));
      await writeFile(pa[t]!, await solidPng(200, 200, 200));
      await writeFile(pb[t]!, await solidPng(20, 20, 20));
    }
    s = await startFakeServer({
      answer: async (r) => ({ preference: (await meanBrightness(r.images[0]!)) > (await meanBrightness(r.images[1]!)) ? 'first' : 'second', confidence: 1, rationale: '' }),
    });
    const judge = openAIJudge({ baseURL: s.baseURL, model: 'fake-vlm', timeoutMs: 2000 });
    const res = await labelSegments(pb, pa, judge, { segmentFrames: 4, criteria: ['overall'] });
    expect(res.labels).toEqual([-1]);
  });

  it('validates its arguments', async () => {
    const j = functionJudge(() => 0);
    const a = tf.zeros([4, 2, 2, 3]);
    const b = tf.zeros([5, 2, 2, 3]);
    await expect(labelSegments(a, b, j, { segmentFrames: 2 })).rejects.toSatisfy(isShapeError);
    await expect(labelSegments(a, a, j, {})).rejects.toSatisfy(isConfigError);
    await expect(labelSegments(a, a, j, { segmentFrames: 2, segmentSeconds: 1 })).rejects.toThrow(/exactly one/);
    await expect(labelSegments(a, a, j, { segmentSeconds: 1 })).rejects.toThrow(/needs fps/);
    await expect(labelSegments(tf.zeros([4, 2, 2]) as tf.Tensor, a, j, { segmentFrames: 2 })).rejects.toThrow(/expected \[T, H, W, 3\]/);
    tf.dispose([a, b]);
  });
});
