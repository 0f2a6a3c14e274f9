import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { readSafetensors } from '../../src/core/safetensors.js';
import { registerPreprocessCommand, runPreprocess, type PreprocessRecord } from '../../src/cli/commands/preprocess.js';
import { mediaChildren, setupClips } from './_helpers.js';

let env: ReturnType<typeof setupClips>;
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  env = setupClips();
});
afterAll(() => env.cleanup());

describe('prefkit preprocess', () => {
  it('writes one [T, size, size, 3] tensor per video, an index with segments, and skips bad files', async () => {
    const out = join(env.dir, 'pre');
    const recs = await runPreprocess({ inputs: [env.clips.seqWebm, env.clips.rot90Mp4, env.clips.audioOnly], out, fps: 5, size: 8, segmentFrames: 4, strip: true, quiet: true });
    expect(recs).toHaveLength(3);
    const [seq, rot, bad] = recs;
    expect(seq.frames).toBe(15); // 3 s at 5 fps
    expect(seq.segments).toEqual([[0, 4], [4, 8], [8, 12], [12, 15]]);
    expect(rot.probe?.rotation).toBe(270);
    expect(bad.error).toMatch(/No video stream/);
    const { tensors, metadata } = await readSafetensors(join(out, seq.tensor!));
    const v = tensors.video;
    expect(v.shape).toEqual([15, 8, 8, 3]);
    expect(metadata?.fps).toBe('5');
    const d = v.dataSync();
    // frames 0-4 red, 5-9 lime, 10-14 blue; pixel (4, 4) of frames 2, 7, 12
    const at = (t: number) => [0, 1, 2].map((c) => d[((t * 8 + 4) * 8 + 4) * 3 + c]);
    for (const [t, want] of [[2, [1, -1, -1]], [7, [-1, 1, -1]], [12, [-1, -1, 1]]] as const) at(t).forEach((x, c) => expect(Math.abs(x - want[c])).toBeLessThan(0.1));
    for (const t of Object.values(tensors)) t.dispose();
    expect(existsSync(join(out, seq.strip!))).toBe(true);
    const index = readFileSync(join(out, 'videos.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as PreprocessRecord);
    expect(index.map((r) => r.tensor ?? null)).toEqual(['seq.safetensors', 'rot90.safetensors', null]);
    expect(mediaChildren()).toEqual([]);
  });

  it('is registered on a commander program and sets exit code 1 when a file fails', async () => {
    const program = new Command('prefkit').exitOverride();
    registerPreprocessCommand(program);
    const out = join(env.dir, 'pre-cli');
    const prev = process.exitCode;
    await program.parseAsync(['node', 'prefkit', 'preprocess', env.clips.quadMp4, env.clips.textFile, '-o', out, '--fps', '10', '--size', '4', '--max-frames', '3', '-q']);
    expect(process.exitCode).toBe(1);
    process.exitCode = prev;
    const index = readFileSync(join(out, 'videos.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(index[0].frames).toBe(3);
    expect(index[1].error).toMatch(/Probing video failed/);
    await expect(runPreprocess({ inputs: [join(env.dir, 'nope')], out, fps: 8, size: 8 })).rejects.toThrow(/input .*nope does not exist/);
  });
});
