import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServer, type FakeServer } from './helpers/fake-openai-server.js';

let dir: string;
let s: FakeServer;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-example-'));
  s = await startFakeServer({ answer: () => ({ preference: 'first', confidence: 0.9, rationale: 'smoother' }) });
});
afterAll(async () => {
  await s.close();
  await rm(dir, { recursive: true, force: true });
});

function run(args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((ok) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'examples/vlm-label-segments/label-segments.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += String(d)));
    p.stderr.on('data', (d) => (out += String(d)));
    p.on('exit', (code) => ok({ code, out }));
  });
}

describe('examples/vlm-label-segments', () => {
  it('labels the demo clips per segment on the three DenseDPO criteria', async () => {
    const out = join(dir, 'demo.jsonl');
    const r = await run(['--demo', '--base-url', s.baseURL, '--model', 'fake-vlm', '--out', out]);
    expect(r.code, r.out).toBe(0);
    const [line] = (await readFile(out, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(line).toMatchObject({ first: 'smooth', second: 'jittery', segmentFrames: 8, segments: [1, 1] });
    expect(line.softLabels[0]).toBeCloseTo(0.95, 12);
    expect(s.requests).toHaveLength(6);
    expect(s.requests.filter((q) => q.text.includes('Judge motion only'))).toHaveLength(2);
  });

  // ffmpeg is a system tool (installed on the project machine); skip visibly where it is absent.
  it.skipIf(spawnSync('ffmpeg', ['-version']).status !== 0)('reads video files with ffmpeg', async () => {
    for (const [name, src] of [['a.mp4', 'testsrc'], ['b.mp4', 'testsrc2']]) {
      const g = spawnSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `${src}=size=32x32:rate=8`, '-t', '1', '-pix_fmt', 'yuv420p', join(dir, name!)]);
      expect(g.status, String(g.stderr)).toBe(0);
    }
    await writeFile(join(dir, 'pairs.jsonl'), `${JSON.stringify({ prompt: 'test pattern', chosen: 'a.mp4', rejected: 'b.mp4' })}\n`);
    const before = s.requests.length;
    const r = await run(['--pairs', join(dir, 'pairs.jsonl'), '--base-url', s.baseURL, '--model', 'fake-vlm', '--criteria', 'overall']);
    expect(r.code, r.out).toBe(0);
    const [line] = (await readFile(join(dir, 'pairs.segments.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(line.segments).toEqual([1]);
    expect(s.requests.length - before).toBe(1);
  });
});
