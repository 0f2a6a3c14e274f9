import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerDemoCommand } from '../../src/cli/commands/demo.js';
import { initEngine } from '../../src/core/engine.js';
import type { DemoMetrics } from '../../src/demo/report.js';
import { loadDenoiser } from '../../src/diffusion/load.js';
import { readMetricsFile } from '../../src/train/metrics.js';

const dir = mkdtempSync(path.join(tmpdir(), 'prefkit-demo-'));
beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const inUnit = (x: number) => Number.isFinite(x) && x >= 0 && x <= 1;

describe('prefkit demo --quick', () => {
  it('runs end to end and writes a well-formed report, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const program = new Command('prefkit').exitOverride();
    registerDemoCommand(program);
    await program.parseAsync(['node', 'prefkit', 'demo', '--quick', '--quiet', '--out', dir, '--seed', '1']);
    expect(tf.memory().numTensors).toBe(before);

    for (const f of ['report.md', 'metrics.json', 'metrics.jsonl', 'samples-heldout.png', 'samples-train.png', 'pairs.png', 'loss.png']) {
      expect(existsSync(path.join(dir, f)), f).toBe(true);
    }
    for (const f of ['samples-heldout.png', 'pairs.png', 'loss.png']) {
      expect(readFileSync(path.join(dir, f)).subarray(1, 4).toString()).toBe('PNG');
    }
    const m = JSON.parse(readFileSync(path.join(dir, 'metrics.json'), 'utf8')) as DemoMetrics;
    expect(m.training.steps).toBe(12);
    expect(m.training.reason).toBe('completed');
    expect(m.pairs.count).toBeGreaterThan(0);
    expect(m.pairs.meanChosenReward).toBeGreaterThan(m.pairs.meanRejectedReward);
    for (const c of [m.heldOut, m.trainPrompts]) {
      expect(c.wins + c.ties + c.losses).toBe(c.n);
      expect(c.winRate).toBeCloseTo(c.wins / c.n, 10);
      for (const s of [c.base, c.tuned]) {
        for (const v of [s.meanReward, s.colourAccuracy, s.shapeAccuracy, s.bothAccuracy, s.meanQuality]) expect(inUnit(v)).toBe(true);
      }
    }
    expect(m.heldOut.n).toBe(5 * 4);
    expect(Object.keys(m.heldOut.perPrompt)).toEqual(m.settings['heldOutPrompts']);
    for (const t of Object.values(m.timings)) expect(t).toBeGreaterThanOrEqual(0);
    expect(m.timings['total']).toBeGreaterThan(m.timings['training']);
    const jsonl = readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(jsonl.length).toBeGreaterThan(0);
    expect(Number.isFinite(jsonl.at(-1).loss)).toBe(true);
    const md = readFileSync(path.join(dir, 'report.md'), 'utf8');
    expect(md).toContain('## Held-out prompts');
    expect(md).toContain(`${m.heldOut.wins} wins, ${m.heldOut.ties} ties, ${m.heldOut.losses} losses`);
    expect(md).toContain('samples-heldout.png');
  }, 240_000);

  it('--rounds 2 --reference round samples fresh pairs from the tuned policy for the second round, without leaking tensors', async () => {
    const before = tf.memory().numTensors;
    const out = path.join(dir, 'rounds');
    const program = new Command('prefkit').exitOverride();
    registerDemoCommand(program);
    await program.parseAsync(['node', 'prefkit', 'demo', '--quick', '--quiet', '--out', out, '--seed', '1', '--rounds', '2', '--reference', 'round', '--steps', '4', '--eval-seeds', '1']);
    expect(tf.memory().numTensors).toBe(before);
    const m = JSON.parse(readFileSync(path.join(out, 'metrics.json'), 'utf8')) as DemoMetrics;
    expect(m.settings['rounds']).toBe(2);
    expect(m.pairs.rounds).toHaveLength(2);
    // the second round's pairs come from the tuned policy with another seed: not the same set as round 1
    const [r1, r2] = m.pairs.rounds!;
    expect([r1.count, r1.meanSampleReward]).not.toEqual([r2.count, r2.meanSampleReward]);
    expect(m.pairs.count).toBe(r2.count);
    expect(m.training.steps).toBe(4);
    // the report describes every round, not only the last one
    const md = readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(md).toContain('tuned in 2 on-policy rounds');
    expect(md).toContain(`gave ${r1.count}, ${r2.count} preference pairs in rounds 1 to 2`);
    expect(md).toContain('trained 4 steps per round, with the base model as the reference in round 1 and a frozen copy of the policy at the round start after that');
    // one training log over both rounds, steps counted on
    const recs = (await readMetricsFile(path.join(out, 'metrics.jsonl'))).filter((r) => r.type === 'step');
    const steps = recs.map((r) => r.step);
    expect(steps).toEqual([...steps].sort((a, b) => a - b));
    expect(Math.max(...steps)).toBe(8);
    expect(recs.filter((r) => (r as Record<string, unknown>)['round'] === 2).length).toBeGreaterThan(0);
    // tuned/ holds the final policy: the same weights as round 2's last checkpoint, not round 1's
    const tuned = await loadDenoiser(path.join(out, 'tuned'));
    const last = await loadDenoiser(path.join(out, 'rounds', 'round-2', 'checkpoints', 'step-000004'));
    const first = await loadDenoiser(path.join(out, 'checkpoints', 'step-000004'));
    const flat = (d: typeof tuned) => tf.tidy(() => Array.from(tf.concat(d.trainableVariables.map((v) => tf.reshape(v, [-1]))).dataSync()));
    expect(flat(tuned)).toEqual(flat(last));
    expect(flat(tuned)).not.toEqual(flat(first));
    for (const d of [tuned, last, first]) d.dispose();
  }, 240_000);
});
