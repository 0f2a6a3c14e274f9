import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeVideo } from '../../src/video/index.js';
import { isMediaError } from '../../src/errors.js';
import { mediaChildren, setupClips } from './_helpers.js';

let env: ReturnType<typeof setupClips>;
beforeAll(() => {
  env = setupClips();
});
afterAll(() => env.cleanup());

describe('probeVideo', () => {
  it('reads an H.264 mp4', async () => {
    expect(await probeVideo(env.clips.quadMp4)).toEqual({
      duration: 2,
      fps: 10,
      variableFrameRate: false,
      frameCount: 20,
      width: 64,
      height: 48,
      codedWidth: 64,
      codedHeight: 48,
      rotation: 0,
      hasAudio: false,
      codec: 'h264',
      format: 'mov,mp4,m4a,3gp,3g2,mj2',
    });
  });

  it('counts frames of a VP9 webm, which stores no frame count', async () => {
    const i = await probeVideo(env.clips.seqWebm);
    expect([i.codec, i.frameCount, i.fps, i.duration, i.width, i.height]).toEqual(['vp9', 30, 10, 3, 32, 32]);
  });

  it('keeps odd sizes', async () => {
    for (const f of [env.clips.oddWebm, env.clips.oddMp4]) {
      const i = await probeVideo(f);
      expect([i.width, i.height, i.frameCount]).toEqual([33, 25, 10]);
    }
  });

  it('reports rotation clockwise and the display size', async () => {
    const a = await probeVideo(env.clips.rot90Mp4); // ffmpeg 5.1 writes tag 90 as a 90° counter-clockwise matrix
    const b = await probeVideo(env.clips.rot270Mp4);
    expect([a.rotation, a.width, a.height, a.codedWidth, a.codedHeight]).toEqual([270, 48, 64, 64, 48]);
    expect([b.rotation, b.width, b.height]).toEqual([90, 48, 64]);
  });

  it('flags variable frame rate', async () => {
    const i = await probeVideo(env.clips.vfrMp4);
    expect(i.variableFrameRate).toBe(true);
    expect(i.frameCount).toBe(15);
    expect(i.fps).toBeCloseTo(150 / 17, 6);
  });

  it('sees an audio track', async () => {
    const i = await probeVideo(env.clips.audioMp4);
    expect([i.hasAudio, i.frameCount, i.codec]).toEqual([true, 20, 'h264']);
  });

  it.each([
    ['audio-only', 'audioOnly', /No video stream in .*audio\.m4a: found audio/],
    ['zero-byte', 'zeroByte', /Probing an empty \(0-byte\) file failed[\s\S]*stderr[\s\S]*(moov atom not found|Invalid data)/],
    ['non-video', 'textFile', /Probing video failed[\s\S]*Invalid data found/],
    ['truncated mp4', 'truncatedMp4', /moov atom not found/],
  ] as const)('rejects a %s file with a MediaError', async (_, name, msg) => {
    const err = await probeVideo(env.clips[name]).catch((e) => e);
    expect(isMediaError(err)).toBe(true);
    expect(err.file).toBe(env.clips[name]);
    expect(err.message).toMatch(msg);
    if (name !== 'audioOnly') expect(err.stderrTail.length).toBeGreaterThan(0);
  });

  it('rejects a missing file before running ffprobe', async () => {
    await expect(probeVideo(env.dir + '/nope.mp4')).rejects.toThrow(/Cannot read video .*nope\.mp4: no such file/);
    expect(mediaChildren()).toEqual([]);
  });
});
