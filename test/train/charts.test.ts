import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { isConfigError } from '../../src/errors.js';
import { createProgressBar, renderCharts, renderMetricSvg, type TrainerEvent } from '../../src/train/index.js';

const work = mkdtempSync(path.join(tmpdir(), 'prefkit-charts-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('renderCharts', () => {
  it('draws loss, rewards/accuracies and rewards/margins from metrics.jsonl as PNG', async () => {
    const file = path.join(work, 'metrics.jsonl');
    const lines = [1, 2, 3, 4].map((s) => JSON.stringify({ type: 'step', step: s * 10, time: '', loss: 0.7 - s * 0.05, 'rewards/accuracies': 0.5 + s * 0.1, 'rewards/margins': s * 0.2 }));
    lines.push(JSON.stringify({ type: 'eval', step: 40, time: '', reward: 3 }));
    writeFileSync(file, lines.join('\n') + '\n');
    const files = await renderCharts(file, path.join(work, 'charts'), { width: 200, height: 100, scale: 1 });
    expect(files.map((f) => path.basename(f))).toEqual(['loss.png', 'rewards_accuracies.png', 'rewards_margins.png']);
    for (const f of files) {
      const meta = await sharp(f).metadata();
      expect(meta.format).toBe('png');
      expect(meta.width).toBeGreaterThan(200); // plot plus axes and title
      const stats = await sharp(f).stats();
      expect(stats.channels[0].min).toBeLessThan(128); // something dark was drawn on white
    }
  });

  it('puts every logged step on the line (one SVG point per record) and skips absent metrics', async () => {
    const recs = [1, 2, 3].map((s) => ({ type: 'step' as const, step: s, time: '', loss: s }));
    const svg = await renderMetricSvg(recs, 'loss');
    expect(svg).toContain('<svg');
    expect((svg ?? '').match(/aria-roledescription="point"/g)?.length).toBe(3);
    expect(await renderMetricSvg(recs, 'rewards/margins')).toBeNull();
  });

  it('says where the metrics file should be when it is missing', async () => {
    const err = await renderCharts(path.join(work, 'none.jsonl'), work).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    expect((err as Error).message).toMatch(/No metrics file at .*none\.jsonl/);
  });
});

describe('createProgressBar', () => {
  it('prints one line per logged step off a TTY, with loss, accuracy and steps/s, and a done line', () => {
    let out = '';
    const stream = { write: (s: string) => ((out += s), true) } as unknown as NodeJS.WritableStream;
    const h = createProgressBar({ stream, label: 'dpo' });
    const evs: TrainerEvent[] = [
      { type: 'step', step: 1, maxSteps: 2, lr: 1, elapsedMs: 500 },
      { type: 'step', step: 2, maxSteps: 2, lr: 1, elapsedMs: 1000, metrics: { loss: 0.5, 'rewards/accuracies': 0.75 } },
      { type: 'done', step: 2, reason: 'completed', nonFiniteSteps: 0, elapsedMs: 1000 },
    ];
    for (const e of evs) void h(e);
    expect(out).toBe('dpo step 2/2 | loss 0.5000 | acc 0.750 | 2.00 steps/s\ndpo done at step 2 (completed) in 1.0 s\n');
  });
});
