import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerLabelCommand, readLabelManifest } from '../../src/cli/commands/label.js';
import { startFakeServer, type FakeServer } from './helpers/fake-openai-server.js';
import { solidPng } from './helpers/media.js';

const KEY = 'sk-cli-test-0a1b2c3d4e5f-SECRET';
let dir: string;
let s: FakeServer;
beforeAll(async () => {
  process.env.PREFKIT_CLI_TEST_KEY = KEY;
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-cli-'));
  for (let i = 0; i < 4; i++) {
    await writeFile(join(dir, `c${i}.png`), await solidPng(200, 10 * i, 0));
    await writeFile(join(dir, `r${i}.png`), await solidPng(10, 10 * i, 0));
  }
  const lines = [0, 1, 2, 3].map((i) => JSON.stringify({ prompt: `item-${i}`, chosen: `c${i}.png`, rejected: `r${i}.png`, label: i === 3 ? 0 : 1, extra: i }));
  await writeFile(join(dir, 'pairs.jsonl'), `${lines.join('\n')}\n`);
  s = await startFakeServer({ apiKey: KEY, answer: (r) => ({ preference: r.item === 'item-2' ? 'tie' : 'first', confidence: 0.6, rationale: 'ok' }) });
});
afterAll(async () => {
  await s.close();
  await rm(dir, { recursive: true, force: true });
});

describe('prefkit label', () => {
  it('labels a manifest through the server and writes the labelled manifest', async () => {
    const program = new Command('prefkit').exitOverride();
    registerLabelCommand(program);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      await program.parseAsync(
        ['label', '--manifest', join(dir, 'pairs.jsonl'), '--base-url', s.baseURL, '--model', 'fake-vlm', '--api-key-env', 'PREFKIT_CLI_TEST_KEY', '--concurrency', '2', '--max-retries', '1'],
        { from: 'user' },
      );
      const logged = err.mock.calls.map((c) => String(c[0])).join('');
      expect(logged).toMatch(/labelled 4\/4 \(0 from cache\), 0 failed/);
      expect(logged).toMatch(/accuracy 0\.500, Cohen's kappa/);
      expect(logged).not.toContain(KEY);
    } finally {
      err.mockRestore();
    }
    const out = (await readFile(join(dir, 'pairs.labels.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(out).toHaveLength(4);
    expect(out[0]).toMatchObject({ prompt: 'item-0', chosen: 'c0.png', extra: 0, humanLabel: 1, label: 0.8, vlm: { preference: 'first', model: 'fake-vlm' } });
    expect(out[2]).toMatchObject({ label: 0.5, vlm: { preference: 'tie' } });
    const cache = await readFile(join(dir, 'pairs.vlm-cache.jsonl'), 'utf8');
    expect(cache.trim().split('\n')).toHaveLength(4);
    expect(cache).not.toContain(KEY);
    expect(s.requests).toHaveLength(4);
    // A rerun is served from the cache.
    const again = new Command('prefkit').exitOverride();
    registerLabelCommand(again);
    await again.parseAsync(['label', '--manifest', join(dir, 'pairs.jsonl'), '--base-url', s.baseURL, '--model', 'fake-vlm', '--api-key-env', 'PREFKIT_CLI_TEST_KEY', '--quiet', '--hard', '--out', join(dir, 'hard.jsonl')], {
      from: 'user',
    });
    expect(s.requests).toHaveLength(4);
    const hard = (await readFile(join(dir, 'hard.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).label);
    expect(hard).toEqual([1, 1, 0.5, 1]);
  });

  it('rejects bad flags and bad manifests with clear messages', async () => {
    const program = new Command('prefkit').exitOverride().configureOutput({ writeErr: () => undefined });
    registerLabelCommand(program);
    await expect(program.parseAsync(['label', '--manifest', 'x.jsonl', '--base-url', 'http://x/v1', '--model', 'm', '--concurrency', '0'], { from: 'user' })).rejects.toThrow(
      /--concurrency must be a whole number >= 1/,
    );
    await writeFile(join(dir, 'bad.jsonl'), '{"prompt": "a", "chosen": "c0.png"}\n');
    await expect(readLabelManifest(join(dir, 'bad.jsonl'))).rejects.toThrow(/line 1:\n  - rejected/);
  });
});
