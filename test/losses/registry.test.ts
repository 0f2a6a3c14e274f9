import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { isConfigError } from '../../src/errors.js';
import { getLoss, lossNames, lossRegistry, resolveLoss, type PairErrorInputs } from '../../src/losses/registry.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

const read = (t: tf.Tensor) => t.dataSync()[0];

function inputsFor(name: string): PairErrorInputs {
  const spec = getLoss(name);
  if (spec.errorKind === 'segment') {
    return {
      policyChosen: tf.tensor2d([[0.5, 0.4], [0.3, 0.6]]),
      policyRejected: tf.tensor2d([[0.6, 0.5], [0.3, 0.2]]),
      refChosen: tf.tensor2d([[0.55, 0.45], [0.31, 0.59]]),
      refRejected: tf.tensor2d([[0.58, 0.52], [0.33, 0.21]]),
      segmentLabels: tf.tensor2d([[1, -1], [0, 1]]),
    };
  }
  return {
    policyChosen: tf.tensor1d([0.5, 0.4]),
    policyRejected: tf.tensor1d([0.6, 0.45]),
    refChosen: tf.tensor1d([0.52, 0.41]),
    refRejected: tf.tensor1d([0.58, 0.44]),
    preference: tf.tensor1d([0.7, 0.6]),
  };
}

describe('lossRegistry', () => {
  it('registers the contract names', () => {
    for (const n of ['diffusion-dpo', 'dcpo', 'smpo', 'dense-dpo', 'kto', 'mapo', 'sft']) expect(lossNames()).toContain(n);
    for (const [k, s] of Object.entries(lossRegistry)) {
      expect(s.name).toBe(k);
      expect(s.paper).toMatch(/https:\/\//);
    }
  });

  it('declares what each loss needs', () => {
    expect(getLoss('mapo').requires.reference).toBe(false);
    expect(getLoss('diffusion-dpo').requires.reference).toBe(true);
    expect(getLoss('smpo').requires.softLabels).toBe(true);
    expect(getLoss('dense-dpo').requires.segmentLabels).toBe(true);
    expect(getLoss('dense-dpo').errorKind).toBe('segment');
    expect(getLoss('dcpo').requires.dualCaptions).toBe(true);
    expect(getLoss('kto').requires.unpaired).toBe(true);
  });

  it('unknown name: ConfigError listing the registered names', () => {
    expect(() => getLoss('dpo2')).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Unknown loss "dpo2". Expected one of: diffusion-dpo, dcpo, smpo, dense-dpo, kto, mapo, sft.]`,
    );
  });

  it('schemas fill defaults and reject bad options', () => {
    expect(resolveLoss('diffusion-dpo').options).toEqual({ beta: 5000, link: 'sigmoid', labelSmoothing: 0, sftWeight: 0 });
    expect(resolveLoss('smpo').options).toEqual({ beta: 2000, scale: 10 });
    expect(resolveLoss('mapo').options).toEqual({ beta: 0.1, snr: 0.5, numTrainTimesteps: 1000 });
    expect(resolveLoss('dense-dpo').options).toEqual({ beta: 5000 });
    expect(resolveLoss('dense-dpo', { segmentFrames: 4 }).options).toEqual({ beta: 5000, segmentFrames: 4 });
    expect(resolveLoss('kto').options).toEqual({ beta: 1000, desirableWeight: 1, undesirableWeight: 1 });
    expect(resolveLoss('dcpo').options).toEqual({ beta: 500, link: 'sigmoid', labelSmoothing: 0, sftWeight: 0 });
    const bad = (() => {
      try {
        resolveLoss('diffusion-dpo', { link: 'robust', labelSmoothing: 0.5 });
      } catch (e) {
        return e;
      }
    })();
    expect(isConfigError(bad)).toBe(true);
    expect(() => resolveLoss('diffusion-dpo', { link: 'ipo2' })).toThrow(/link/);
    expect(() => resolveLoss('diffusion-dpo', { betta: 1 })).toThrow(/betta/);
  });

  it.each(['diffusion-dpo', 'dcpo', 'smpo', 'dense-dpo', 'kto', 'mapo', 'sft'])('%s computes a finite loss and TRL metrics without leaks', (name) => {
    const inputs = inputsFor(name);
    const { spec, options } = resolveLoss(name);
    const out = spec.compute(inputs, options);
    expect(out.loss.rank).toBe(0);
    expect(Number.isFinite(read(out.loss))).toBe(true);
    for (const m of Object.values(out.metrics)) expect(m.rank).toBe(0);
    expect(read(out.metrics.nonFinite)).toBe(0);
    if (name !== 'sft') {
      for (const k of ['rewards/chosen', 'rewards/rejected', 'rewards/margins', 'rewards/accuracies']) expect(out.metrics[k], k).toBeDefined();
    }
    tf.dispose(out);
    expectNoLeakedTensors(() => tf.dispose(spec.compute(inputs, options)));
    tf.dispose(inputs);
  });

  it('missing required input: ConfigError naming it', () => {
    const inputs = { policyChosen: tf.tensor1d([1]), policyRejected: tf.tensor1d([1]) };
    expect(() => getLoss('diffusion-dpo').compute(inputs, resolveLoss('diffusion-dpo').options)).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Loss 'diffusion-dpo' needs input 'refChosen' (reference errors), but it was not given.]`,
    );
    tf.dispose(inputs);
  });
});
