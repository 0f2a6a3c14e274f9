/**
 * prefkit's losses against reference values computed offline in PyTorch from the official code's
 * formulas (test/golden/scripts/losses-goldens.py → test/golden/losses-*.json).
 */
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { betaFromDiffusersSd15 } from '../../src/losses/diffusion-dpo.js';
import { denoisingError, segmentErrors } from '../../src/losses/denoising-error.js';
import { denseDpoLoss } from '../../src/losses/dense-dpo.js';
import { dpoLoss, type DpoLossType } from '../../src/losses/dpo.js';
import { getLoss, resolveLoss } from '../../src/losses/registry.js';
import { softPreference } from '../../src/losses/smpo.js';
import type { LossOutput } from '../../src/losses/types.js';
import { expectClose, flat, tensorOf, val } from './helpers.js';

type Case = {
  name: string;
  loss: string;
  options: Record<string, unknown>;
  preference?: number[];
  inputs: Record<string, unknown>;
  source: string;
  expected: {
    loss: number;
    gradPolicyChosen: unknown;
    gradPolicyRejected: unknown;
    metrics?: Record<string, number>;
    kl?: number;
  };
};

const golden = JSON.parse(readFileSync(new URL('../golden/losses-diffusion.json', import.meta.url), 'utf8'));
const trl = JSON.parse(readFileSync(new URL('../golden/losses-trl.json', import.meta.url), 'utf8'));

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

function optionsFor(c: Case): Record<string, unknown> {
  const o = { ...c.options };
  if ('betaSd15' in o) {
    o.beta = betaFromDiffusersSd15(o.betaSd15 as number);
    delete o.betaSd15;
  }
  return o;
}

describe('goldens: diffusion losses vs the official formulas (PyTorch, float64)', () => {
  it('has provenance on every case', () => {
    expect(golden.generated_by).toBe('test/golden/scripts/losses-goldens.py');
    for (const c of golden.cases as Case[]) expect(c.source.length).toBeGreaterThan(10);
  });

  it.each((golden.cases as Case[]).map((c) => [c.name, c] as const))('%s: loss, metrics and gradients w.r.t. the predictions', (_n, c) => {
    const { spec, options } = resolveLoss(c.loss, optionsFor(c));
    const inp = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tensorOf(v)]));
    const preference = c.preference ? tf.tensor1d(c.preference) : undefined;
    const lossOf = (pw: tf.Tensor, pl: tf.Tensor): LossOutput =>
      spec.compute(
        {
          policyChosen: denoisingError(pw, inp.targetChosen),
          policyRejected: denoisingError(pl, inp.targetRejected),
          refChosen: denoisingError(inp.refPredChosen, inp.targetChosen),
          refRejected: denoisingError(inp.refPredRejected, inp.targetRejected),
          preference: preference as tf.Tensor1D | undefined,
        },
        options,
      );
    const out = tf.tidy(() => lossOf(inp.policyPredChosen, inp.policyPredRejected));
    expectClose(val(out.loss), c.expected.loss, 2e-4, 1e-6, `${c.name} loss`);
    for (const [k, v] of Object.entries(c.expected.metrics ?? {})) expectClose(val(out.metrics[k]), v, 2e-4, 1e-6, `${c.name} ${k}`);
    if (c.expected.kl !== undefined) expectClose(val(out.metrics.kl), c.expected.kl, 2e-4, 1e-7, `${c.name} kl`);
    const g = tf.grads((pw: tf.Tensor, pl: tf.Tensor) => lossOf(pw, pl).loss)([inp.policyPredChosen, inp.policyPredRejected]);
    const scale = Math.max(...flat(c.expected.gradPolicyChosen).map(Math.abs), ...flat(c.expected.gradPolicyRejected).map(Math.abs));
    expectClose(g[0].dataSync() as Float32Array, flat(c.expected.gradPolicyChosen), 1e-3, 1e-4 * scale, `${c.name} dL/dpredChosen`);
    expectClose(g[1].dataSync() as Float32Array, flat(c.expected.gradPolicyRejected), 1e-3, 1e-4 * scale, `${c.name} dL/dpredRejected`);
    tf.dispose([out, g, inp, preference]);
  });

  it('softPreference equals SmPO preprocessing', () => {
    const s = golden.softPreference;
    const p = softPreference(tf.tensor1d(s.scoreChosen), tf.tensor1d(s.scoreRejected));
    expectClose(p.dataSync() as Float32Array, s.expected, 1e-6, 1e-7, 'p');
    p.dispose();
  });

  it.each((golden.dense as Array<Case & { labels: number[][] }>).map((c) => [c.name, c] as const))('%s (our convention, loop reference)', (_n, c) => {
    const inp = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tensorOf(v)]));
    const labels = tf.tensor2d(c.labels);
    const S = c.options.segmentFrames as number;
    const e = c.expected as unknown as { loss: number; accuracy: number | null; decisive: number; segmentErrorsPolicyA: number[][]; gradPolicyA: unknown; gradPolicyB: unknown };
    const lossOf = (pa: tf.Tensor, pb: tf.Tensor) =>
      denseDpoLoss(
        {
          policyA: segmentErrors(pa, inp.targetA, { segmentFrames: S }),
          policyB: segmentErrors(pb, inp.targetB, { segmentFrames: S }),
          refA: segmentErrors(inp.refPredA, inp.targetA, { segmentFrames: S }),
          refB: segmentErrors(inp.refPredB, inp.targetB, { segmentFrames: S }),
        },
        { beta: c.options.beta as number, labels },
      );
    const segA = segmentErrors(inp.policyPredA, inp.targetA, { segmentFrames: S });
    expect(segA.shape).toEqual([2, 3]);
    expectClose(segA.dataSync() as Float32Array, flat(e.segmentErrorsPolicyA), 1e-5, 1e-7, 'segment errors');
    const out = tf.tidy(() => lossOf(inp.policyPredA, inp.policyPredB));
    expectClose(val(out.loss), e.loss, 2e-4, 1e-6, 'dense loss');
    expect(val(out.metrics['count/decisive'])).toBe(e.decisive);
    if (e.accuracy === null) expect(val(out.metrics['rewards/accuracies'])).toBeNaN();
    else expectClose(val(out.metrics['rewards/accuracies']), e.accuracy, 0, 1e-7, 'accuracy');
    const g = tf.grads((pa: tf.Tensor, pb: tf.Tensor) => lossOf(pa, pb).loss)([inp.policyPredA, inp.policyPredB]);
    const scale = Math.max(1e-30, ...flat(e.gradPolicyA).map(Math.abs));
    expectClose(g[0].dataSync() as Float32Array, flat(e.gradPolicyA), 1e-3, 1e-4 * scale, 'dL/dpredA');
    expectClose(g[1].dataSync() as Float32Array, flat(e.gradPolicyB), 1e-3, 1e-4 * scale, 'dL/dpredB');
    tf.dispose([out, g, inp, labels, segA]);
  });
});

describe('goldens: dpoLoss vs TRL DPOTrainer (PyTorch, float64)', () => {
  it('records the TRL file and commits', () => {
    expect(trl.source).toContain('trl/trainer/dpo_trainer.py');
    expect(trl.source).toContain('49ef33428c47235991acb4e185ea599b70c6dab4');
    expect(trl.source).toContain('f2cd57710ae345ea6428ae95363267fcf38a3dc8');
  });

  type TrlCase = {
    name: string;
    lossType: DpoLossType;
    options: { beta: number; labelSmoothing: number; bcoDelta: number };
    inputs: Record<string, number[]>;
    lengths?: { chosen: number[]; rejected: number[] };
    expected: { loss: number; gradPolicyChosenLogps: number[]; gradPolicyRejectedLogps: number[]; metrics: Record<string, number> };
  };
  it.each((trl.cases as TrlCase[]).map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const inp = Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, tf.tensor1d(v)])) as Record<string, tf.Tensor1D>;
    const lengths = c.lengths ? { chosenLengths: tf.tensor1d(c.lengths.chosen), rejectedLengths: tf.tensor1d(c.lengths.rejected) } : {};
    const run = (pc: tf.Tensor1D, pr: tf.Tensor1D) =>
      dpoLoss(
        { policyChosenLogps: pc, policyRejectedLogps: pr, refChosenLogps: inp.refChosenLogps, refRejectedLogps: inp.refRejectedLogps },
        { ...c.options, lossType: c.lossType, ...lengths },
      );
    const out = tf.tidy(() => run(inp.policyChosenLogps, inp.policyRejectedLogps));
    expectClose(val(out.loss), c.expected.loss, 1e-4, 1e-6, 'loss');
    for (const [k, v] of Object.entries(c.expected.metrics)) expectClose(val(out.metrics[k]), v, 1e-4, 1e-6, k);
    const g = tf.grads((pc: tf.Tensor, pr: tf.Tensor) => run(pc as tf.Tensor1D, pr as tf.Tensor1D).loss)([inp.policyChosenLogps, inp.policyRejectedLogps]);
    expectClose(g[0].dataSync() as Float32Array, c.expected.gradPolicyChosenLogps, 1e-3, 1e-6, 'dL/dchosen');
    expectClose(g[1].dataSync() as Float32Array, c.expected.gradPolicyRejectedLogps, 1e-3, 1e-6, 'dL/drejected');
    tf.dispose([out, g, inp, lengths]);
  });
});

// keep getLoss referenced for the registry path used above
void getLoss;
