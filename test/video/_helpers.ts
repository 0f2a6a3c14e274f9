/** Shared helpers for the video tests (not a test file). */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeClips, type ClipName } from '../fixtures/video/make-clips.js';
import type { RawFrame } from '../../src/video/index.js';

/** Make the fixture clips in a fresh temp dir; call `cleanup()` in afterAll. */
export function setupClips(): { dir: string; clips: Record<ClipName, string>; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'prefkit-video-'));
  const clips = makeClips(dir);
  return { dir, clips, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** PIDs of live child processes of this process (Linux /proc), with their command names. */
export function childProcesses(): Array<{ pid: number; comm: string }> {
  const out: Array<{ pid: number; comm: string }> = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // pid (comm) state ppid ...
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const fields = stat.slice(close + 2).split(' ');
      if (Number(fields[1]) === process.pid && fields[0] !== 'Z') out.push({ pid: Number(e), comm });
    } catch {
      /* process went away */
    }
  }
  return out;
}

/** Child ffmpeg/ffprobe processes still alive. */
export function mediaChildren(): Array<{ pid: number; comm: string }> {
  return childProcesses().filter((c) => /ff(mpeg|probe)/.test(c.comm));
}

/** RGB at (x, y) of a raw frame. */
export function px(f: RawFrame, x: number, y: number): [number, number, number] {
  const i = (y * f.width + x) * 3;
  return [f.data[i], f.data[i + 1], f.data[i + 2]];
}

/** True when two RGB triples agree within `tol` per channel. */
export function near(a: readonly number[], b: readonly number[], tol = 12): boolean {
  return a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) <= tol);
}

export const RED = [255, 0, 0] as const;
export const LIME = [0, 255, 0] as const;
export const BLUE = [0, 0, 255] as const;
export const BLACK = [0, 0, 0] as const;
