import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine } from '../../src/core/engine.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { loadImage, loadImages, decodeImage } from '../../src/image/load.js';
import { MediaError, ConfigError, isMediaError } from '../../src/errors.js';
import { createRng } from '../../src/core/random.js';

const FIX = join(import.meta.dirname, '..', 'fixtures', 'images');
const f = (name: string) => join(FIX, name);
/** Byte value v (0..255) as the loader's float: v / 127.5 - 1. */
const u = (v: number) => v / 127.5 - 1;
const Q = { TL: [220, 20, 60], TR: [0, 160, 0], BL: [30, 60, 230], BR: [250, 250, 250] };

async function pixel(t: tf.Tensor3D, y: number, x: number): Promise<number[]> {
  const a = (await t.array()) as number[][][];
  return a[y][x];
}
function expectRgb(got: number[], bytes: readonly number[], tolBytes = 0.5) {
  for (let c = 0; c < 3; c++) expect(Math.abs(got[c] - u(bytes[c]))).toBeLessThanOrEqual(tolBytes / 127.5 + 1e-6);
}

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

describe('loadImage on real files', () => {
  it('8-bit PNG: exact quadrant colours at known places, float range [-1, 1]', async () => {
    const t = await loadImage(f('quad.png'));
    expect(t.shape).toEqual([6, 8, 3]);
    expect(t.dtype).toBe('float32');
    expectRgb(await pixel(t, 0, 0), Q.TL);
    expectRgb(await pixel(t, 0, 7), Q.TR);
    expectRgb(await pixel(t, 5, 0), Q.BL);
    expectRgb(await pixel(t, 5, 7), Q.BR);
    t.dispose();
  });

  it('accepts bytes as well as a path', async () => {
    const t = await loadImage(readFileSync(f('quad.png')));
    expectRgb(await pixel(t, 5, 0), Q.BL);
    t.dispose();
  });

  it('16-bit PNG becomes 8-bit: 65535→255, 16384→64, 32896→128', async () => {
    const t = await loadImage(f('rgb16.png'));
    expect(t.shape).toEqual([1, 2, 3]);
    expectRgb(await pixel(t, 0, 0), [255, 64, 0]);
    expectRgb(await pixel(t, 0, 1), [0, 128, 255]);
    t.dispose();
  });

  it('alpha is flattened onto the background (white by default, or a stated colour)', async () => {
    const white = await loadImage(f('alpha.png'));
    expectRgb(await pixel(white, 0, 0), [255, 255, 255]); // transparent red → background
    expectRgb(await pixel(white, 0, 1), [0, 255, 0]); // opaque green stays
    // alpha 128 blue over white: 255·(1 − 128/255) = 127
    expectRgb(await pixel(white, 0, 2), [127, 127, 255], 1);
    const black = await loadImage(f('alpha.png'), { background: { r: 0, g: 0, b: 0 } });
    expectRgb(await pixel(black, 0, 0), [0, 0, 0]);
    expectRgb(await pixel(black, 0, 2), [0, 0, 128], 1);
    tf.dispose([white, black]);
  });

  it('grayscale PNG becomes RGB with equal channels', async () => {
    const t = await loadImage(f('gray.png'));
    expect(t.shape).toEqual([1, 3, 3]);
    expectRgb(await pixel(t, 0, 0), [0, 0, 0]);
    expectRgb(await pixel(t, 0, 1), [128, 128, 128]);
    expectRgb(await pixel(t, 0, 2), [255, 255, 255]);
    t.dispose();
  });

  it('16-bit grayscale PNG becomes 8-bit RGB', async () => {
    const t = await loadImage(f('gray16.png'));
    expectRgb(await pixel(t, 0, 0), [0, 0, 0]);
    expectRgb(await pixel(t, 0, 1), [128, 128, 128]);
    expectRgb(await pixel(t, 0, 2), [255, 255, 255]);
    t.dispose();
  });

  it('palette PNG decodes to the exact palette colours', async () => {
    const t = await loadImage(f('quad-palette.png'));
    expectRgb(await pixel(t, 0, 0), Q.TL);
    expectRgb(await pixel(t, 5, 7), Q.BR);
    t.dispose();
  });

  it('JPEG with EXIF orientation 6 is rotated: 32×16 stored becomes 16 wide × 32 high, red on top', async () => {
    const t = await loadImage(f('exif-rotated.jpg'));
    expect(t.shape).toEqual([32, 16, 3]);
    expectRgb(await pixel(t, 4, 8), [255, 0, 0], 4);
    expectRgb(await pixel(t, 27, 8), [0, 0, 255], 4);
    t.dispose();
  });

  it('EXIF orientation 8 (90° counter-clockwise) and 2 (mirror) put red at the bottom and on the right', async () => {
    const r8 = await loadImage(f('exif-8.jpg'));
    expect(r8.shape).toEqual([32, 16, 3]);
    expectRgb(await pixel(r8, 27, 8), [255, 0, 0], 4);
    expectRgb(await pixel(r8, 4, 8), [0, 0, 255], 4);
    const r2 = await loadImage(f('exif-2.jpg'));
    expect(r2.shape).toEqual([16, 32, 3]);
    expectRgb(await pixel(r2, 8, 27), [255, 0, 0], 4);
    expectRgb(await pixel(r2, 8, 4), [0, 0, 255], 4);
    tf.dispose([r8, r2]);
  });

  it('CMYK JPEG converts to sRGB (colours within JPEG + colour-conversion error)', async () => {
    const t = await loadImage(f('quad-cmyk.jpg'));
    expect(t.shape).toEqual([32, 32, 3]);
    // Saturated blue lies outside the CMYK gamut, so colours move; each quadrant must still be
    // nearest its own colour (a CMYK file read as RGB, or with inverted ink, would not be).
    const qs = [Q.TL, Q.TR, Q.BL, Q.BR];
    const dist = (a: number[], b: readonly number[]) => Math.max(...a.map((v, i) => Math.abs((v + 1) * 127.5 - b[i])));
    for (const [y, x, qi] of [[4, 4, 0], [4, 27, 1], [27, 4, 2], [27, 27, 3]] as const) {
      const got = await pixel(t, y, x);
      const d = qs.map((q) => dist(got, q));
      expect(d.indexOf(Math.min(...d))).toBe(qi);
      expect(d[qi]).toBeLessThan(qi === 2 ? 90 : 50);
    }
    t.dispose();
  });

  it('progressive JPEG, WebP, GIF and TIFF give the quadrant colours', async () => {
    for (const [name, tol] of [['quad-progressive.jpg', 4], ['quad.webp', 0.5], ['quad.gif', 0.5], ['quad.tiff', 0.5]] as const) {
      const t = await loadImage(f(name));
      expect(t.shape, name).toEqual([32, 32, 3]);
      for (const [y, x, c] of [[4, 4, Q.TL], [4, 27, Q.TR], [27, 4, Q.BL], [27, 27, Q.BR]] as const) {
        expectRgb(await pixel(t, y, x), c, tol);
      }
      t.dispose();
    }
  });
});

describe('loadImage resizing, cropping and flipping', () => {
  it('cover with centre crop keeps the middle: 8×6 → 4×4 shows all four quadrants', async () => {
    const t = await loadImage(f('quad.webp'), { size: 4 });
    expect(t.shape).toEqual([4, 4, 3]);
    expectRgb(await pixel(t, 0, 0), Q.TL, 2);
    expectRgb(await pixel(t, 3, 3), Q.BR, 2);
    t.dispose();
  });

  it('fill stretches to [height, width]; contain pads with the background', async () => {
    // lanczos3 over a 6 → 4 row downscale mixes a few bytes across the quadrant edge: tolerance 8.
    const fill = await loadImage(f('quad.png'), { size: [4, 16], fit: 'fill' });
    expect(fill.shape).toEqual([4, 16, 3]);
    expectRgb(await pixel(fill, 0, 0), Q.TL, 8);
    expectRgb(await pixel(fill, 3, 15), Q.BR, 8);
    // exif-rotated is 16 wide × 32 high: contained in 32×32 it is padded left and right.
    const contain = await loadImage(f('exif-rotated.jpg'), { size: 32, fit: 'contain', background: '#00ff00' });
    expect(contain.shape).toEqual([32, 32, 3]);
    expectRgb(await pixel(contain, 16, 1), [0, 255, 0], 1);
    expectRgb(await pixel(contain, 4, 16), [255, 0, 0], 6);
    tf.dispose([fill, contain]);
  });

  it('flip mirrors left-right', async () => {
    const t = await loadImage(f('quad.png'), { flip: true });
    expectRgb(await pixel(t, 0, 0), Q.TR);
    expectRgb(await pixel(t, 5, 7), Q.BL);
    t.dispose();
  });

  it('random crop and flip are reproducible from the seed and vary across seeds', async () => {
    // 32×16 stored → 16×32 displayed; cover to 8×8 scales to 8×16: 9 possible vertical offsets.
    const draw = async (seed: number) => {
      const d = await decodeImage(f('quad.tiff'), { size: [8, 8], fit: 'cover', crop: 'random', flip: 'random', rng: createRng(seed) });
      return Buffer.from(d.data).toString('hex');
    };
    expect(await draw(1)).toBe(await draw(1));
    const seen = new Set<string>();
    for (let s = 0; s < 8; s++) seen.add(await draw(s));
    expect(seen.size).toBeGreaterThan(1);
  });

  it('loadImages: random crops are reproducible from the seed and differ between calls on one stream', async () => {
    const files = [f('exif-rotated.jpg'), f('exif-rotated.jpg'), f('exif-rotated.jpg'), f('exif-rotated.jpg')];
    const opts = { size: [8, 8] as [number, number], crop: 'random' as const, concurrency: 3 };
    const run = async (rng: ReturnType<typeof createRng>) => {
      const t = await loadImages(files, { ...opts, rng });
      const v = Array.from(await t.data());
      t.dispose();
      return v;
    };
    const a = createRng(11);
    const first = await run(a);
    const second = await run(a);
    expect(await run(createRng(11))).toEqual(first);
    expect(second).not.toEqual(first);
  });

  it('random crop without an rng is a ConfigError', async () => {
    await expect(loadImage(f('quad.png'), { size: 4, crop: 'random' })).rejects.toThrow(ConfigError);
  });

  it('loadImages stacks a batch [B, H, W, 3]', async () => {
    const b = await loadImages([f('quad.png'), f('quad.webp'), f('quad.gif')], { size: 8, concurrency: 2 });
    expect(b.shape).toEqual([3, 8, 8, 3]);
    const a = (await b.array()) as number[][][][];
    expectRgb(a[2][0][0], Q.TL, 2);
    b.dispose();
  });

  it('leaks no tensors: each call leaves exactly its result', async () => {
    (await expectNoLeakedTensors(() => loadImage(f('quad.png'), { size: 4 }), 1)).dispose();
    (await expectNoLeakedTensors(() => loadImages([f('quad.png'), f('gray.png')], { size: 4 }), 1)).dispose();
    await expectNoLeakedTensors(() => loadImage(f('truncated.png')).catch(() => undefined), 0);
  });
});

describe('loadImage on bad files', () => {
  const cases: [string, RegExp][] = [
    ['empty.png', /empty \(0 bytes\)/],
    ['not-an-image.png', /not a readable image/],
    ['truncated.png', /truncated or corrupt/],
    ['truncated.jpg', /truncated or corrupt/],
    ['bomb.png', /100000 × 100000 = 10000000000 pixels, over the limit/],
  ];
  for (const [name, re] of cases) {
    it(`${name} → MediaError naming the file`, async () => {
      const err = await loadImage(f(name)).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isMediaError(err)).toBe(true);
      const me = err as MediaError;
      expect(me.file).toBe(f(name));
      expect(me.message).toContain(f(name));
      expect(me.message).toMatch(re);
    });
  }

  it('failOn: every level rejects truncation; an unknown level is a ConfigError', async () => {
    for (const failOn of ['truncated', 'error', 'warning'] as const) {
      await expect(loadImage(f('truncated.jpg'), { failOn })).rejects.toThrow(MediaError);
    }
    await expect(loadImage(f('quad.png'), { failOn: 'never' as never })).rejects.toThrow(ConfigError);
  });

  it('a missing file is a MediaError', async () => {
    await expect(loadImage(f('does-not-exist.png'))).rejects.toThrow(MediaError);
  });

  it('the pixel limit is checked on the header before decoding (a small limit rejects a valid image)', async () => {
    await expect(loadImage(f('quad.png'), { maxPixels: 47 })).rejects.toThrow(/8 × 6 = 48 pixels, over the limit of 47/);
    const ok = await loadImage(f('quad.png'), { maxPixels: 48 });
    ok.dispose();
  });

  it('a bomb header fails fast (no 30 GB allocation)', async () => {
    const t0 = performance.now();
    await expect(loadImage(f('bomb.png'))).rejects.toThrow(MediaError);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('an SVG whose canvas claims 10^10 pixels is refused before rendering', async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="100000"><rect width="10" height="10"/></svg>');
    await expect(loadImage(svg)).rejects.toThrowErrorMatchingInlineSnapshot(`[MediaError: Image <107-byte buffer> claims 100000 × 100000 = 10000000000 pixels, over the limit of 67108864 (maxPixels); refusing to decode (possible decompression bomb). Raise maxPixels if the file is trusted.]`);
  });

  it('zero-byte buffers are a MediaError too', async () => {
    await expect(loadImage(new Uint8Array(0))).rejects.toThrow(/empty/);
  });
});
