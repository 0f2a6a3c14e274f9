import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPairManifest, parsePairManifest, pairRecordSchema } from '../../src/data/manifest.js';
import { ConfigError, isConfigError } from '../../src/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'prefkit-manifest-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const write = (name: string, lines: string[]) => {
  const p = join(dir, name);
  writeFileSync(p, lines.join('\n') + '\n');
  return p;
};

describe('pairRecordSchema', () => {
  it('defaults label to 1 and accepts soft labels, captions and segments', () => {
    expect(pairRecordSchema.parse({ prompt: 'p', chosen: 'a', rejected: 'b' }).label).toBe(1);
    const r = pairRecordSchema.parse({ prompt: 'p', chosen: 'a', rejected: 'b', label: 0.7, captionChosen: 'x', captionRejected: 'y', segments: [1, -1, 0] });
    expect(r).toMatchObject({ label: 0.7, segments: [1, -1, 0] });
  });
  it('rejects labels outside [0, 1], a lone DCPO caption and segment labels other than ±1/0', () => {
    expect(pairRecordSchema.safeParse({ prompt: 'p', chosen: 'a', rejected: 'b', label: 1.5 }).success).toBe(false);
    expect(pairRecordSchema.safeParse({ prompt: 'p', chosen: 'a', rejected: 'b', captionChosen: 'x' }).success).toBe(false);
    expect(pairRecordSchema.safeParse({ prompt: 'p', chosen: 'a', rejected: 'b', segments: [2] }).success).toBe(false);
  });
});

describe('readPairManifest', () => {
  it('reads records, resolving paths relative to the manifest and inline data: URIs', async () => {
    const p = write('ok.jsonl', [
      '{"prompt":"a red cube","chosen":"img/a.png","rejected":"/abs/b.png"}',
      '',
      '# a comment',
      '{"prompt":"soft","chosen":"c.png","rejected":"data:image/png;base64,AAEC","label":0.25,"captionChosen":"x","captionRejected":"y","segments":[1,0,-1],"extra":"ignored"}',
    ]);
    const m = await readPairManifest(p);
    expect(m.skipped).toEqual([]);
    expect(m.records).toHaveLength(2);
    expect(m.records[0]).toMatchObject({ prompt: 'a red cube', chosen: join(dir, 'img/a.png'), rejected: '/abs/b.png', label: 1, origin: `${p}:1` });
    const r = m.records[1];
    expect(Array.from(r.rejected as Uint8Array)).toEqual([0, 1, 2]);
    expect(r).toMatchObject({ label: 0.25, captionChosen: 'x', captionRejected: 'y', segments: [1, 0, -1], origin: `${p}:4` });
    expect('extra' in r).toBe(false);
  });

  it('fails naming the file, the line and the field', async () => {
    const p = write('bad.jsonl', ['{"prompt":"a","chosen":"a.png","rejected":"b.png"}', '{"prompt":"b","chosen":"a.png","rejected":"b.png","label":2}']);
    const err = await readPairManifest(p).catch((e: unknown) => e);
    expect(isConfigError(err)).toBe(true);
    const msg = (err as ConfigError).message;
    expect(msg).toContain(`Invalid pair manifest ${p}, line 2`);
    expect(msg).toContain('field "label"');
    expect((err as ConfigError).source).toBe(`${p}:2`);
  });

  it('reports unparsable JSON and missing fields', () => {
    expect(() => parsePairManifest('{"prompt": "a", ', { path: 'm.jsonl' })).toThrow(/m\.jsonl, line 1:\n  - field "\(json\)": not valid JSON/);
    expect(() => parsePairManifest('{"prompt":"a","chosen":"x.png"}', { path: 'm.jsonl' })).toThrow(/field "rejected"/);
  });

  it('skip mode drops bad lines and reports line and field of each', async () => {
    const p = write('mixed.jsonl', [
      '{"prompt":"a","chosen":"a.png","rejected":"b.png"}',
      'not json',
      '{"prompt":"c","chosen":"","rejected":"b.png"}',
      '{"prompt":"d","chosen":"a.png","rejected":"b.png","segments":[1,3]}',
      '{"prompt":"e","chosen":"a.png","rejected":"b.png","captionRejected":"only one"}',
      '{"prompt":"f","chosen":"a.png","rejected":"b.png","label":0.5}',
    ]);
    const m = await readPairManifest(p, { onInvalid: 'skip' });
    expect(m.records.map((r) => r.prompt)).toEqual(['a', 'f']);
    expect(m.skipped.map((s) => [s.line, s.field])).toEqual([
      [2, '(json)'],
      [3, 'chosen'],
      [4, 'segments.1'],
      [5, 'captionChosen'],
    ]);
  });

  it('checkFiles reports missing and empty image files by line and field', async () => {
    writeFileSync(join(dir, 'a.png'), 'x');
    writeFileSync(join(dir, 'empty.png'), '');
    const p = write('files.jsonl', [
      '{"prompt":"ok","chosen":"a.png","rejected":"a.png"}',
      '{"prompt":"missing","chosen":"a.png","rejected":"nope.png"}',
      '{"prompt":"empty","chosen":"empty.png","rejected":"a.png"}',
    ]);
    expect((await readPairManifest(p)).records).toHaveLength(3); // not checked by default
    await expect(readPairManifest(p, { checkFiles: true })).rejects.toThrow(/line 2:\n  - field "rejected": no such file: .*nope\.png/);
    const m = await readPairManifest(p, { checkFiles: true, onInvalid: 'skip' });
    expect(m.records.map((r) => r.prompt)).toEqual(['ok']);
    expect(m.skipped.map((s) => [s.line, s.field, s.message.split(':')[0]])).toEqual([
      [2, 'rejected', 'no such file'],
      [3, 'chosen', 'empty file'],
    ]);
  });

  it('a missing manifest file is a ConfigError naming it', async () => {
    await expect(readPairManifest(join(dir, 'nope.jsonl'))).rejects.toThrow(/Cannot read pair manifest .*nope\.jsonl/);
  });
});
