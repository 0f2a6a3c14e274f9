import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { createRng } from '../../src/core/random.js';
import { analyseImage, batchRewards, rewardOf, ShapesRewardJudge } from '../../src/demo/judge.js';
import { COLOUR_NAMES, captionOf, randomScene, renderScene, WORLD_SHAPES } from '../../src/demo/world.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

describe('reward judge classifiers', () => {
  it('names the colour and shape of every rendered caption at random sizes and positions', () => {
    const rng = createRng(11);
    let n = 0;
    for (const colour of COLOUR_NAMES) {
      for (const shape of WORLD_SHAPES) {
        for (let k = 0; k < 12; k++) {
          const spec = randomScene(rng, captionOf(colour, shape));
          const a = analyseImage(renderScene(spec), 16, 16);
          expect(a.colour, JSON.stringify(spec)).toBe(colour);
          expect(a.shape, JSON.stringify(spec)).toBe(shape);
          expect(a.quality).toBeGreaterThan(0.75);
          n++;
        }
      }
    }
    expect(n).toBe(180);
  });

  it('finds no foreground in a blank image and low quality in noise', () => {
    const blank = renderScene({ colour: 'red', shape: 'square', cx: 8, cy: 8, size: 0 });
    const a = analyseImage(blank, 16, 16);
    expect(a.colour).toBeNull();
    expect(a.shape).toBeNull();
    expect(rewardOf(blank, 16, 16, 'a red square').reward).toBe(0);
    const noise = createRng(2).uniformArray(16 * 16 * 3, -1, 1);
    expect(analyseImage(noise, 16, 16).quality).toBeLessThan(0.5);
  });

  it('rewards the right image above wrong colour, wrong shape and noise', () => {
    const right = renderScene({ colour: 'blue', shape: 'circle', cx: 8, cy: 8, size: 10 });
    const wrongColour = renderScene({ colour: 'yellow', shape: 'circle', cx: 8, cy: 8, size: 10 });
    const wrongShape = renderScene({ colour: 'blue', shape: 'triangle', cx: 8, cy: 8, size: 10 });
    const r = rewardOf(right, 16, 16, 'a blue circle');
    expect(r.colourCorrect && r.shapeCorrect).toBe(true);
    expect(r.reward).toBeGreaterThan(0.9);
    const rc = rewardOf(wrongColour, 16, 16, 'a blue circle');
    const rs = rewardOf(wrongShape, 16, 16, 'a blue circle');
    expect(rc.colourCorrect).toBe(false);
    expect(rs.shapeCorrect).toBe(false);
    expect(rc.reward).toBeLessThan(r.reward - 0.3);
    expect(rs.reward).toBeLessThan(r.reward - 0.3);
  });

  it('scores a batch like one image at a time, without leaking tensors', () => {
    const rng = createRng(5);
    const specs = Array.from({ length: 4 }, () => randomScene(rng));
    const data = new Float32Array(4 * 16 * 16 * 3);
    specs.forEach((s, i) => data.set(renderScene(s), i * 768));
    const prompts = specs.map((s) => captionOf(s.colour, s.shape));
    const images = tf.tensor4d(data, [4, 16, 16, 3]);
    const got = expectNoLeakedTensors(() => batchRewards(images, prompts));
    got.forEach((g, i) => expect(g).toEqual(rewardOf(data.subarray(i * 768, (i + 1) * 768), 16, 16, prompts[i])));
    expect(() => batchRewards(images, prompts.slice(1))).toThrow(/expected \[3, H, W, 3\]/);
    images.dispose();
  });

  it('implements Judge: prefers the matching image, ties identical ones', async () => {
    const judge = new ShapesRewardJudge();
    const good = tf.tensor3d(renderScene({ colour: 'green', shape: 'square', cx: 8, cy: 8, size: 9 }), [16, 16, 3]);
    const bad = tf.tensor3d(renderScene({ colour: 'red', shape: 'triangle', cx: 8, cy: 8, size: 9 }), [16, 16, 3]);
    const v1 = await judge.compare({ prompt: 'a green square', first: { kind: 'image', tensor: good }, second: { kind: 'image', tensor: bad } });
    expect(v1.preference).toBe('first');
    expect(v1.scores![0]).toBeGreaterThan(v1.scores![1]);
    const v2 = await judge.compare({ prompt: 'a green square', first: { kind: 'image', tensor: bad }, second: { kind: 'image', tensor: good } });
    expect(v2.preference).toBe('second');
    const v3 = await judge.compare({ prompt: 'a green square', first: { kind: 'image', tensor: good }, second: { kind: 'image', tensor: good } });
    expect(v3.preference).toBe('tie');
    await expect(judge.compare({ first: { kind: 'image', tensor: good }, second: { kind: 'image', tensor: bad } })).rejects.toThrow(/needs request.prompt/);
    await expect(judge.compare({ prompt: 'a green square', first: { kind: 'image', path: 'x.png' }, second: { kind: 'image', tensor: bad } })).rejects.toThrow(/tensor/);
    tf.dispose([good, bad]);
  });
});
