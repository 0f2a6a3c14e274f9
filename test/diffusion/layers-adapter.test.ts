import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { layersModelDenoiser, loadDenoiser } from '../../src/diffusion/index.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { useBackend } from './helpers.js';

beforeAll(async () => {
  await useBackend('wasm');
});

function buildModel(): tf.LayersModel {
  const x = tf.input({ shape: [8, 8, 2] });
  const t = tf.input({ shape: [1] });
  const h = tf.layers.conv2d({ filters: 2, kernelSize: 3, padding: 'same', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(x) as tf.SymbolicTensor;
  const te = tf.layers.dense({ units: 8 * 8 * 2, kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }), biasInitializer: 'ones' }).apply(t) as tf.SymbolicTensor;
  const te2 = tf.layers.reshape({ targetShape: [8, 8, 2] }).apply(te) as tf.SymbolicTensor;
  const y = tf.layers.add().apply([h, te2]) as tf.SymbolicTensor;
  return tf.model({ inputs: [x, t], outputs: y });
}

describe('layersModelDenoiser', () => {
  it('feeds [xt, t], trains, clones frozen, and round-trips through save/loadDenoiser', async () => {
    const model = buildModel();
    const d = layersModelDenoiser(model);
    expect(d.config).toEqual({ kind: 'LayersModel', inputs: ['xt', 't'] });
    const xt = tf.randomNormal([3, 8, 8, 2], 0, 1, 'float32', 4);
    const t = tf.tensor1d([1, 50, 999]);
    const y = d.predict(xt, t);
    const ref = model.predict([xt, tf.reshape(t, [3, 1])]) as tf.Tensor;
    expect(Array.from(y.dataSync())).toEqual(Array.from(ref.dataSync()));
    expect(d.trainableVariables.length).toBe(4);
    expect(Object.keys(d.namedVariables()).length).toBe(4);
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(d.predict(xt, t))) as tf.Scalar, d.trainableVariables);
    expect(Object.keys(grads).length).toBe(4);
    tf.dispose([value, ...Object.values(grads)]);

    const frozen = d.cloneFrozen();
    expect(frozen.trainableVariables).toEqual([]);
    expect(Array.from(frozen.predict(xt, t).dataSync())).toEqual(Array.from(y.dataSync()));
    const k = d.trainableVariables[0];
    k.assign(tf.tidy(() => tf.add(k, 1)));
    expect(Array.from(frozen.predict(xt, t).dataSync())).toEqual(Array.from(y.dataSync()));

    const dir = mkdtempSync(join(tmpdir(), 'prefkit-layers-'));
    await d.save(dir);
    const back = await loadDenoiser(dir);
    expect(Array.from(back.predict(xt, t).dataSync())).toEqual(Array.from(d.predict(xt, t).dataSync()));
    expect(back.trainableVariables.length).toBe(4);
    expectNoLeakedTensors(() => d.predict(xt, t).dispose());
    tf.dispose([xt, t, y, ref]);
    for (const m of [d, frozen, back]) m.dispose();
  });

  it('asks for input names when it cannot infer them', () => {
    const a = tf.input({ shape: [2] });
    const b = tf.input({ shape: [2] });
    const c = tf.input({ shape: [2] });
    const e = tf.input({ shape: [2] });
    const y = tf.layers.add().apply([a, b, c, e]) as tf.SymbolicTensor;
    expect(() => layersModelDenoiser(tf.model({ inputs: [a, b, c, e], outputs: y }))).toThrow(/has 4 inputs; pass opts.inputs/);
  });
});
