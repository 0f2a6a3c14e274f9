import { describe, expect, it } from 'vitest';
import { createRng } from '../../src/core/random.js';
import { isConfigError } from '../../src/errors.js';
import {
  allCaptions,
  captionOf,
  HELD_OUT_CAPTIONS,
  parseCaption,
  randomScene,
  renderScene,
  trainCaptions,
  WORLD_BACKGROUND,
  WORLD_COLOURS,
} from '../../src/demo/world.js';

const px = (img: Float32Array, x: number, y: number, size = 16) => Array.from(img.slice((y * size + x) * 3, (y * size + x) * 3 + 3)).map((v) => (v + 1) / 2);

describe('demo world', () => {
  it('renders the shape colour inside and the background outside (hand-derived pixels)', () => {
    // square of side 6 centred at (8, 8) covers pixel centres 5.25..10.75 → pixels 5..10
    const img = renderScene({ colour: 'red', shape: 'square', cx: 8, cy: 8, size: 6 });
    px(img, 7, 7).forEach((v, c) => expect(v).toBeCloseTo(WORLD_COLOURS.red[c], 5));
    px(img, 5, 5).forEach((v, c) => expect(v).toBeCloseTo(WORLD_COLOURS.red[c], 5));
    px(img, 4, 8).forEach((v, c) => expect(v).toBeCloseTo(WORLD_BACKGROUND[c], 5));
    px(img, 0, 0).forEach((v, c) => expect(v).toBeCloseTo(WORLD_BACKGROUND[c], 5));
    // triangle: apex row is narrow, base row wide
    const tri = renderScene({ colour: 'blue', shape: 'triangle', cx: 8, cy: 8, size: 10 });
    const rowCover = (y: number) => Array.from({ length: 16 }, (_, x) => px(tri, x, y)[2] > 0.5).filter(Boolean).length;
    expect(rowCover(3)).toBeLessThan(rowCover(12));
  });

  it('parses captions and rejects unknown ones', () => {
    expect(parseCaption('a red triangle')).toEqual({ colour: 'red', shape: 'triangle' });
    expect(parseCaption('  A Purple CIRCLE ')).toEqual({ colour: 'purple', shape: 'circle' });
    try {
      parseCaption('a pink hexagon');
      expect.unreachable();
    } catch (e) {
      expect(isConfigError(e)).toBe(true);
      expect((e as Error).message).toMatch(/colours: red, green/);
    }
  });

  it('keeps held-out captions out of the training captions', () => {
    expect(allCaptions()).toHaveLength(15);
    expect(HELD_OUT_CAPTIONS).toHaveLength(5);
    expect(trainCaptions()).toHaveLength(10);
    for (const c of HELD_OUT_CAPTIONS) expect(trainCaptions()).not.toContain(c);
    expect(new Set(HELD_OUT_CAPTIONS.map((c) => parseCaption(c).shape)).size).toBe(3);
  });

  it('draws random scenes inside the image, reproducibly', () => {
    const a = createRng(3);
    const b = createRng(3);
    for (let i = 0; i < 50; i++) {
      const s = randomScene(a, captionOf('green', 'circle'));
      expect(s).toEqual(randomScene(b, 'a green circle'));
      expect(s.cx - s.size / 2).toBeGreaterThanOrEqual(0);
      expect(s.cx + s.size / 2).toBeLessThanOrEqual(16);
      expect(s.cy - s.size / 2).toBeGreaterThanOrEqual(0);
      expect(s.cy + s.size / 2).toBeLessThanOrEqual(16);
    }
  });
});
