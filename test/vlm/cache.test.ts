import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JudgeCache, cacheKey } from '../../src/vlm/cache.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-cache-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('cacheKey', () => {
  it('ignores key order and undefined fields, and changes with any value', () => {
    expect(cacheKey({ a: 1, b: [1, { c: 2 }] })).toBe(cacheKey({ b: [1, { c: 2 }], a: 1, d: undefined }));
    expect(cacheKey({ a: 1 })).not.toBe(cacheKey({ a: 2 }));
    expect(cacheKey({ a: 1 })).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('JudgeCache', () => {
  it('appends one line per answer and reloads them', async () => {
    const f = join(dir, 'sub', 'c.jsonl');
    const c = await JudgeCache.open(f);
    expect(c.size).toBe(0);
    await Promise.all([c.put({ key: 'k1', kind: 'compare', model: 'm', value: { x: 1 } }), c.put({ key: 'k2', kind: 'compare', model: 'm', value: { x: 2 } })]);
    expect((await readFile(f, 'utf8')).split('\n')).toHaveLength(3);
    const d = await JudgeCache.open(f);
    expect(d.size).toBe(2);
    expect(d.get('k2')?.value).toEqual({ x: 2 });
  });
  it('skips a torn last line (a run killed mid-write) and keeps appending cleanly', async () => {
    const f = join(dir, 'torn.jsonl');
    const c = await JudgeCache.open(f);
    await c.put({ key: 'a', kind: 'compare', model: 'm', value: 1 });
    await appendFile(f, '{"v":1,"key":"b","kind":"comp');
    const d = await JudgeCache.open(f);
    expect(d.size).toBe(1);
    expect(d.skippedLines).toBe(1);
    await d.put({ key: 'c', kind: 'compare', model: 'm', value: 3 });
    const e = await JudgeCache.open(f);
    expect([e.get('a')?.value, e.get('b'), e.get('c')?.value]).toEqual([1, undefined, 3]);
  });
});
