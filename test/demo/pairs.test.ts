import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { LatentPairSource, type LatentPair } from '../../src/demo/pairs.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});

const pairs: LatentPair[] = Array.from({ length: 5 }, (_, i) => ({
  prompt: `p${i}`,
  chosen: tf.fill([2, 2, 1], i) as tf.Tensor3D,
  rejected: tf.fill([2, 2, 1], -i) as tf.Tensor3D,
  chosenReward: 1,
  rejectedReward: 0,
}));

describe('LatentPairSource', () => {
  it('visits every pair once per epoch, stacks chosen/rejected in step, and resumes from its state', () => {
    const src = new LatentPairSource(pairs, 3);
    const seen: string[] = [];
    for (let k = 0; k < 5; k++) {
      const b = src.next(1);
      expect(b.chosen.shape).toEqual([1, 2, 2, 1]);
      const v = b.chosen.dataSync()[0];
      expect(b.rejected.dataSync()[0]).toBe(-v);
      expect(b.prompts).toEqual([`p${v}`]);
      seen.push(b.prompts[0]);
      tf.dispose([b.chosen, b.rejected]);
    }
    expect([...seen].sort()).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    const state = JSON.parse(JSON.stringify(src.getState()));
    const take = (s: LatentPairSource) => Array.from({ length: 4 }, () => {
      const b = s.next(2);
      tf.dispose([b.chosen, b.rejected]);
      return b.prompts.join();
    });
    const a = take(src);
    const other = new LatentPairSource(pairs, 99);
    other.setState(state);
    expect(take(other)).toEqual(a);
    expect(() => new LatentPairSource([], 0)).toThrow(/no pairs/);
  });
});
