import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveFfmpeg, resolveFfprobe, runMedia, spawnMedia } from '../../src/video/index.js';
import { isMediaError, MediaError } from '../../src/errors.js';
import { mediaChildren } from './_helpers.js';

const scratch = mkdtempSync(join(tmpdir(), 'prefkit-ff-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
const SYSTEM_FFMPEG = '/usr/bin/ffmpeg';
const none = { env: { PATH: '' }, loadStatic: false as const };

describe('resolveFfmpeg', () => {
  it('takes the explicit option first', async () => {
    const r = await resolveFfmpeg({ path: SYSTEM_FFMPEG, env: { FFMPEG_PATH: '/nope', PATH: '' }, loadStatic: false });
    expect(r).toEqual({ path: SYSTEM_FFMPEG, source: 'option' });
  });

  it('falls back to FFMPEG_PATH, then ffmpeg-static, then PATH', async () => {
    expect(await resolveFfmpeg({ path: '/no/such/ffmpeg', env: { FFMPEG_PATH: SYSTEM_FFMPEG, PATH: '' }, loadStatic: false })).toEqual({
      path: SYSTEM_FFMPEG,
      source: 'env',
    });
    expect(await resolveFfmpeg({ env: { PATH: '' }, loadStatic: async () => ({ default: SYSTEM_FFMPEG }) })).toEqual({
      path: SYSTEM_FFMPEG,
      source: 'static',
    });
    expect(await resolveFfmpeg({ env: { PATH: `/no/such/dir:/usr/bin` }, loadStatic: async () => ({ default: '/no/static/ffmpeg' }) })).toEqual({
      path: '/usr/bin/ffmpeg',
      source: 'path',
    });
  });

  it('names all four places, and why each failed, when none works', async () => {
    const run = resolveFfmpeg({ path: '/no/such/ffmpeg', env: { FFMPEG_PATH: '/also/missing', PATH: '/empty/dir' }, loadStatic: async () => '/static/missing' });
    await expect(run).rejects.toThrowErrorMatchingInlineSnapshot(`
      [MediaError: Could not find ffmpeg. Tried, in order:
        1. explicit option: /no/such/ffmpeg does not exist
        2. FFMPEG_PATH: /also/missing does not exist
        3. ffmpeg-static: installed but its binary is missing (/static/missing does not exist)
        4. \`ffmpeg\` on PATH: not found in 1 directory
      Install ffmpeg (e.g. \`apt-get install ffmpeg\`), set FFMPEG_PATH, or pass the path explicitly.]
    `);
    await run.catch((e) => {
      expect(isMediaError(e)).toBe(true);
      expect((e as MediaError).code).toBe('MEDIA_TOOL_FAILED');
    });
  });

  it('rejects a file that is not executable', async () => {
    const f = join(scratch, 'ffmpeg');
    writeFileSync(f, '#!/bin/sh\n');
    chmodSync(f, 0o644);
    await expect(resolveFfmpeg({ path: f, ...none })).rejects.toThrow(`1. explicit option: ${f} is not executable`);
    await expect(resolveFfmpeg({ path: scratch, ...none })).rejects.toThrow(`${scratch} is not a regular file`);
  });

  it('checks that the installed ffmpeg-static binary really exists', async () => {
    // optional dependency: may be absent, or installed without its binary
    const pkg = 'ffmpeg-static';
    const p = await import(pkg).then((m: { default: string | null }) => m.default, () => null);
    if (p && existsSync(p)) {
      expect(await resolveFfmpeg({ env: { PATH: '' } })).toEqual({ path: p, source: 'static' });
    } else {
      // not installed, or installed without its binary: must be skipped with a reason
      await expect(resolveFfmpeg({ env: { PATH: '' } })).rejects.toThrow(/3\. ffmpeg-static: (installed but its binary is missing|not installed)/);
    }
  });
});

describe('resolveFfprobe', () => {
  it('uses FFPROBE_PATH and ffprobe on PATH', async () => {
    expect(await resolveFfprobe({ env: { FFPROBE_PATH: '/usr/bin/ffprobe', PATH: '' }, loadStatic: false })).toEqual({ path: '/usr/bin/ffprobe', source: 'env' });
    expect(await resolveFfprobe({ env: { PATH: '/usr/bin' }, loadStatic: false })).toEqual({ path: '/usr/bin/ffprobe', source: 'path' });
    await expect(resolveFfprobe({ ...none })).rejects.toThrow(/FFPROBE_PATH: not set[\s\S]*ffprobe-static: skipped[\s\S]*`ffprobe` on PATH/);
  });
});

describe('runMedia / spawnMedia', () => {
  it('collects stdout of a successful run', async () => {
    const out = await runMedia(SYSTEM_FFMPEG, ['-hide_banner', '-version']);
    expect(out.toString()).toMatch(/^ffmpeg version/);
  });

  it('reports a failed run with the exit code and the stderr tail', async () => {
    const err = await runMedia(SYSTEM_FFMPEG, ['-hide_banner', '-i', join(scratch, 'missing.mp4')], { what: 'Reading' }).catch((e) => e);
    expect(isMediaError(err)).toBe(true);
    expect(err.exitCode).not.toBe(0);
    expect(err.stderrTail).toMatch(/No such file or directory/);
    expect(err.message).toMatch(/^Reading failed \(exit code \d+\)/);
  });

  it('kills the child on timeout and leaves no process behind', async () => {
    const t0 = Date.now();
    // reads a 1-hour synthetic source: would take far longer than 300 ms
    const err = await runMedia(SYSTEM_FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=d=3600', '-f', 'null', '-'], { timeoutMs: 300 }).catch((e) => e);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(isMediaError(err) && err.code).toBe('ABORTED');
    expect(err.message).toMatch(/timed out/);
    expect(mediaChildren()).toEqual([]);
  });

  it('kills the child on abort, and refuses to start when already aborted', async () => {
    const ac = new AbortController();
    const proc = spawnMedia(SYSTEM_FFMPEG, ['-v', 'error', '-f', 'lavfi', '-i', 'testsrc=d=3600', '-f', 'null', '-'], { signal: ac.signal });
    const pid = proc.child.pid!;
    expect(mediaChildren().map((c) => c.pid)).toContain(pid);
    ac.abort();
    const { code } = await proc.exited;
    expect(code).toBeNull();
    expect(proc.stopReason()).toBe('abort');
    expect(mediaChildren()).toEqual([]);
    expect(() => spawnMedia(SYSTEM_FFMPEG, ['-version'], { signal: ac.signal })).toThrow(/Aborted before starting/);
  });
});
