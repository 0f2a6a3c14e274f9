import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/engine.js';
import { DPO_LOSS_TYPES, dpoLoss, type SequenceLogps } from '../../src/losses/dpo.js';
import { expectNoLeakedTensors } from '../helpers/memory.js';
import { checkGradFiniteDiff, expectClose, val } from './helpers.js';

beforeAll(async () => {
  await initEngine({ backend: 'wasm', threads: 1 });
});

const logps = (pc: number[], pr: number[], rc: number[], rr: number[]): SequenceLogps => ({
  policyChosenLogps: tf.tensor1d(pc),
  policyRejectedLogps: tf.tensor1d(pr),
  refChosenLogps: tf.tensor1d(rc),
  refRejectedLogps: tf.tensor1d(rr),
});
const eps = (t: string) => (t === 'exo_pair' ? 1e-3 : t === 'robust' ? 0.1 : 0);

describe('dpoLoss (TRL loss types)', () => {
  it('hand-derived: sigmoid ln 2 at Δ = 0, ipo 0 at Δ = 1/(2β), hinge 1 at Δ = 0, apo_zero 1 at r = 0', () => {
    const z = logps([-10], [-12], [-10], [-12]);
    expectClose(val(dpoLoss(z, { beta: 0.1 }).loss), Math.log(2), 1e-6, 0, 'sigmoid');
    expectClose(val(dpoLoss(z, { beta: 0.1, lossType: 'hinge' }).loss), 1, 1e-6, 0, 'hinge');
    expectClose(val(dpoLoss(z, { beta: 0.1, lossType: 'apo_zero' }).loss), 1, 1e-6, 0, 'apo_zero');
    const ipo = logps([-5], [-12], [-10], [-12]); // Δ = 5 = 1/(2·0.1)
    expectClose(val(dpoLoss(ipo, { beta: 0.1, lossType: 'ipo' }).loss), 0, 0, 1e-9, 'ipo');
    tf.dispose([z, ipo]);
  });

  it('several loss types sum with their weights (TRL MPO form)', () => {
    const l = logps([-10, -3], [-12, -8], [-11, -4], [-11, -7]);
    const a = val(dpoLoss(l, { lossType: 'sigmoid' }).loss);
    const b = val(dpoLoss(l, { lossType: 'hinge' }).loss);
    expectClose(val(dpoLoss(l, { lossType: ['sigmoid', 'hinge'], lossWeights: [0.8, 0.2] }).loss), 0.8 * a + 0.2 * b, 1e-6, 0, 'mpo');
    tf.dispose(l);
  });

  it.each(DPO_LOSS_TYPES)('%s: finite loss and gradients at β·Δ = ±1e4', (lossType) => {
    for (const d of [1e5, -1e5]) {
      const l = logps([d / 2], [-d / 2], [0], [0]);
      const opts = { beta: 0.1, lossType, labelSmoothing: eps(lossType) };
      const out = dpoLoss(l, opts);
      expect(Number.isFinite(val(out.loss)), `${lossType} loss at ${d}`).toBe(true);
      const g = tf.grad((x: tf.Tensor) => dpoLoss({ ...l, policyChosenLogps: x as tf.Tensor1D }, opts).loss)(l.policyChosenLogps);
      expect(Number.isFinite(g.dataSync()[0]), `${lossType} grad at ${d}`).toBe(true);
      tf.dispose([l, out, g]);
    }
  });

  it('limits at β·Δ = ±1e4: sigmoid 0 / 1e4, discopop 0 / 1e4', () => {
    const up = logps([5e4], [-5e4], [0], [0]);
    const down = logps([-5e4], [5e4], [0], [0]);
    expect(val(dpoLoss(up, { beta: 0.1 }).loss)).toBe(0);
    expectClose(val(dpoLoss(down, { beta: 0.1 }).loss), 1e4, 1e-6, 0, 'sigmoid');
    expect(val(dpoLoss(up, { beta: 0.1, lossType: 'discopop' }).loss)).toBe(0);
    expectClose(val(dpoLoss(down, { beta: 0.1, lossType: 'discopop' }).loss), 1e4, 1e-6, 0, 'discopop (σ(x/τ) → 0 kills e^{−x})');
    tf.dispose([up, down]);
  });

  it.each(DPO_LOSS_TYPES)('%s: gradient matches finite differences', (lossType) => {
    const l = logps([-10, -3, -7], [-12, -8, -6], [-11, -4, -6.5], [-11, -7, -6.2]);
    checkGradFiniteDiff(
      (a, b) => dpoLoss({ ...l, policyChosenLogps: a as tf.Tensor1D, policyRejectedLogps: b as tf.Tensor1D }, { beta: 0.3, lossType, labelSmoothing: eps(lossType) }).loss, // β·Δ = 0.6, 0.6, −0.21: away from hinge's kink at 1
      [l.policyChosenLogps, l.policyRejectedLogps],
      { h: 1e-2 },
    );
    tf.dispose(l);
  });

  it('swap flips the margin', () => {
    const l = logps([-10, -3], [-12, -8], [-11, -4], [-11, -7]);
    const s = logps([-12, -8], [-10, -3], [-11, -7], [-11, -4]);
    expectClose(val(dpoLoss(s).metrics['rewards/margins']), -val(dpoLoss(l).metrics['rewards/margins']), 1e-6, 0, 'margins');
    tf.dispose([l, s]);
  });

  it('errors: unknown type, exo_pair without ε, shape, and no leaks', () => {
    const l = logps([-1, -2], [-1, -2], [-1, -2], [-1, -2]);
    expect(() => dpoLoss(l, { lossType: 'kto' as never })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Unknown loss type "kto". Expected one of: sigmoid, hinge, ipo, robust, bco_pair, sppo_hard, nca_pair, apo_zero, apo_down, exo_pair, discopop.]`,
    );
    expect(() => dpoLoss(l, { lossType: 'exo_pair' })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Loss type "exo_pair" needs labelSmoothing in (0, 1), got 0 (TRL suggests 1e-3).]`,
    );
    const bad = tf.tensor1d([1, 2, 3]);
    expect(() => dpoLoss({ ...l, refRejectedLogps: bad })).toThrowErrorMatchingInlineSnapshot(
      `[ShapeError: Argument 'refRejectedLogps' to dpoLoss has shape [3], expected [B=2].]`,
    );
    for (const lossType of DPO_LOSS_TYPES) expectNoLeakedTensors(() => tf.dispose(dpoLoss(l, { lossType, labelSmoothing: eps(lossType) })));
    tf.dispose([l, bad]);
  });
});
