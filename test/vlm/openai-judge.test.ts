import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isVlmError, isPrefkitError } from '../../src/errors.js';
import { JudgeCache, captionImage, captionPairs, labelPairs, openAIJudge, type JudgeEvent, type OpenAIJudgeOptions, type LabelPairRecord } from '../../src/vlm/index.js';
import { startFakeServer, type Fault, type FakeServer, type FakeServerOptions } from './helpers/fake-openai-server.js';
import { solidPng } from './helpers/media.js';

const KEY = 'sk-test-7c1f0e9a42b84d6e-SECRET';
const here = dirname(fileURLToPath(import.meta.url));
let dir: string;
const servers: FakeServer[] = [];

beforeAll(async () => {
  process.env.PREFKIT_TEST_VLM_KEY = KEY;
  dir = await mkdtemp(join(tmpdir(), 'prefkit-vlm-'));
});
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function server(opts: FakeServerOptions = {}): Promise<FakeServer> {
  const s = await startFakeServer({ apiKey: KEY, ...opts });
  servers.push(s);
  return s;
}

function judgeFor(s: FakeServer, extra: Partial<OpenAIJudgeOptions> = {}) {
  return openAIJudge({
    baseURL: s.baseURL,
    model: 'fake-vlm',
    apiKeyEnv: 'PREFKIT_TEST_VLM_KEY',
    timeoutMs: 400,
    maxRetries: 2,
    baseDelayMs: 5,
    maxDelayMs: 20,
    concurrency: 4,
    ...extra,
  });
}

async function pairs(n: number): Promise<LabelPairRecord[]> {
  const out: LabelPairRecord[] = [];
  for (let i = 0; i < n; i++) out.push({ prompt: `item-${i}`, chosen: await solidPng(5 * i + 1, 100, 0), rejected: await solidPng(0, 100, 5 * i + 1) });
  return out;
}

const onFirstAttempt = (f: Fault) => (r: { attempt: number }) => (r.attempt === 0 ? f : undefined);

async function filesUnder(d: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(d, { withFileTypes: true })) {
    const p = join(d, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

describe('openAIJudge against a local OpenAI-compatible server', () => {
  it('sends a json_schema request with JPEG data URLs resized to maxSide, and parses the reply', async () => {
    const s = await server({ answer: () => ({ preference: 'second', confidence: 0.7, rationale: 'sharper' }) });
    const j = judgeFor(s, { maxSide: 16 });
    const big = await solidPng(200, 10, 10, 64, 40);
    const out = await j.compare({ first: { kind: 'image', bytes: big }, second: { kind: 'image', bytes: await solidPng(1, 2, 3) }, prompt: 'item-0 a fox', criteria: 'visual quality' });
    expect(out).toMatchObject({ preference: 'second', confidence: 0.7, rationale: 'sharper', cached: false });
    expect(s.requests).toHaveLength(1);
    const r = s.requests[0]!;
    expect(r.responseFormat).toBe('json_schema:judgement');
    expect(r.body.response_format.json_schema.schema.required).toEqual(['rationale', 'preference', 'confidence']);
    expect(r.authorization).toBe(`Bearer ${KEY}`);
    expect(r.body.model).toBe('fake-vlm');
    expect(r.text).toContain('"item-0 a fox"');
    expect(r.text).toContain('visual quality');
    expect(r.images).toHaveLength(2);
    expect(r.images[0]).toMatch(/^data:image\/jpeg;base64,/);
    const meta = await sharp(Buffer.from(r.images[0]!.split(',')[1]!, 'base64')).metadata();
    expect(meta.format).toBe('jpeg');
    expect([meta.width, meta.height]).toEqual([16, 10]);
    // The first image is the red one: order is preserved.
    const st = await sharp(Buffer.from(r.images[0]!.split(',')[1]!, 'base64')).stats();
    expect(st.channels[0]!.mean).toBeGreaterThan(150);
    expect(j.stats).toMatchObject({ requests: 1, retries: 0, answers: 1, failures: 0 });
  });

  it('sends json_object or no response_format when asked', async () => {
    const s = await server();
    const img = { kind: 'image' as const, bytes: await solidPng(1, 1, 1) };
    await judgeFor(s, { responseFormat: 'json_object' }).compare({ first: img, second: img, prompt: 'item-1' });
    await judgeFor(s, { responseFormat: 'none' }).compare({ first: img, second: img, prompt: 'item-2' });
    expect(s.requests.map((r) => r.responseFormat)).toEqual(['json_object', 'none']);
  });

  it('drops response_format once for a server that rejects it (HTTP 400), and remembers', async () => {
    const s = await server({ fault: (r) => (r.responseFormat !== 'none' ? { kind: 'status', status: 400, body: '{"error":{"message":"response_format not supported"}}' } : undefined) });
    const events: JudgeEvent[] = [];
    const res = await labelPairs(await pairs(3), judgeFor(s, { onEvent: (e) => events.push(e) }), { concurrency: 1 });
    expect(res.summary.labelled).toBe(3);
    expect(s.requests.map((r) => r.responseFormat)).toEqual(['json_schema:judgement', 'none', 'none', 'none']);
    expect(events.filter((e) => e.type === 'response-format-dropped')).toHaveLength(1);
    const s2 = await server({ fault: (r) => (r.responseFormat !== 'none' ? { kind: 'status', status: 400 } : undefined) });
    const res2 = await labelPairs(await pairs(1), judgeFor(s2, { responseFormatFallback: false }));
    expect(res2.summary.failed).toBe(1);
    expect(s2.requests).toHaveLength(1);
  });

  it('accepts JSON inside markdown fences without re-asking', async () => {
    const s = await server({ fault: () => ({ kind: 'fenced' }), answer: () => ({ preference: 'tie', confidence: 0.5, rationale: 'same' }) });
    const [rec] = await pairs(1);
    const res = await labelPairs([rec!], judgeFor(s));
    expect(res.labels[0]).toMatchObject({ status: 'labelled', preference: 'tie', label: 0.5, p: 0.5 });
    expect(s.requests).toHaveLength(1);
  });

  it('retries a 500 with back-off and succeeds', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'status', status: 500 }) });
    const events: JudgeEvent[] = [];
    const j = judgeFor(s, { onEvent: (e) => events.push(e) });
    const res = await labelPairs(await pairs(1), j);
    expect(res.summary).toMatchObject({ labelled: 1, failed: 0 });
    expect(s.counts().get('item-0')).toBe(2);
    expect(j.stats.retries).toBe(1);
    const retry = events.find((e) => e.type === 'retry');
    expect(retry).toMatchObject({ type: 'retry', attempt: 1, status: 500 });
    expect((retry as { delayMs: number }).delayMs).toBeGreaterThanOrEqual(2.5);
    expect((retry as { delayMs: number }).delayMs).toBeLessThanOrEqual(5);
  });

  it('honours Retry-After (seconds) on 429 instead of its own short back-off', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'status', status: 429, retryAfter: '1' }) });
    const res = await labelPairs(await pairs(1), judgeFor(s));
    expect(res.summary.labelled).toBe(1);
    const [a, b] = s.requests;
    expect(b!.receivedAt - a!.receivedAt).toBeGreaterThanOrEqual(950);
  });

  it('honours retry-after-ms, capped by maxRetryAfterMs', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'status', status: 429, retryAfterMs: '200' }) });
    await labelPairs(await pairs(1), judgeFor(s));
    expect(s.requests[1]!.receivedAt - s.requests[0]!.receivedAt).toBeGreaterThanOrEqual(190);
    const s2 = await server({ fault: onFirstAttempt({ kind: 'status', status: 503, retryAfter: '30' }) });
    const t0 = Date.now();
    const res = await labelPairs(await pairs(1), judgeFor(s2, { maxRetryAfterMs: 50 }));
    expect(res.summary.labelled).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('times out a reply slower than timeoutMs and retries', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'slow', delayMs: 3000 }) });
    const t0 = Date.now();
    const res = await labelPairs(await pairs(1), judgeFor(s, { timeoutMs: 150 }));
    expect(res.summary.labelled).toBe(1);
    expect(s.counts().get('item-0')).toBe(2);
    expect(Date.now() - t0).toBeLessThan(2500);
  });

  it('starts the timeout when a request is sent, not while it queues for a concurrency slot', async () => {
    const s = await server({ latencyMs: 120 });
    const j = judgeFor(s, { concurrency: 1, timeoutMs: 300 });
    const res = await labelPairs(await pairs(5), j, { concurrency: 5 });
    expect(res.summary.labelled).toBe(5);
    expect(j.stats).toMatchObject({ requests: 5, retries: 0 });
  });

  it('retries a dropped connection (socket destroyed)', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'drop' }) });
    const res = await labelPairs(await pairs(1), judgeFor(s));
    expect(res.summary.labelled).toBe(1);
    expect(s.counts().get('item-0')).toBe(2);
  });

  it('re-asks once after a malformed reply, quoting it back, then succeeds', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'malformed-reply' }) });
    const events: JudgeEvent[] = [];
    const res = await labelPairs(await pairs(1), judgeFor(s, { onEvent: (e) => events.push(e) }));
    expect(res.summary.labelled).toBe(1);
    expect(s.requests).toHaveLength(2);
    const msgs = s.requests[1]!.body.messages;
    expect(msgs.at(-2)).toMatchObject({ role: 'assistant' });
    expect(msgs.at(-1).role).toBe('user');
    expect(msgs.at(-1).content).toMatch(/previous reply could not be used/);
    expect(events.some((e) => e.type === 'invalid-reply' && e.willReask)).toBe(true);
  });

  it('re-asks once after a malformed response body', async () => {
    const s = await server({ fault: onFirstAttempt({ kind: 'malformed-body' }) });
    const res = await labelPairs(await pairs(1), judgeFor(s));
    expect(res.summary.labelled).toBe(1);
    expect(s.requests).toHaveLength(2);
  });

  it('records a failure (not a crash) when the reply stays invalid: exactly two asks', async () => {
    const s = await server({ fault: () => ({ kind: 'raw-reply', content: '{"preference": "both", "confidence": 3, "rationale": "x"}' }) });
    const res = await labelPairs(await pairs(2), judgeFor(s));
    expect(res.summary).toMatchObject({ total: 2, labelled: 0, failed: 2 });
    expect(res.failures[0]!.code).toBe('VLM_REPLY_INVALID');
    expect(res.failures[0]!.message).toMatch(/stayed invalid after one re-ask.*preference/);
    expect(s.counts().get('item-0')).toBe(2);
    expect(s.counts().get('item-1')).toBe(2);
  });

  it('gives up after maxRetries + 1 requests on a persistent 500, and does not retry a 400', async () => {
    const s = await server({ fault: (r) => (r.item === 'item-0' ? { kind: 'status', status: 500 } : { kind: 'status', status: 400 }) });
    const res = await labelPairs(await pairs(2), judgeFor(s, { maxRetries: 3 }));
    expect(res.summary.failed).toBe(2);
    expect(s.counts().get('item-0')).toBe(4);
    // A 400 is not retried; it is repeated once without response_format (servers that reject it).
    expect(s.counts().get('item-1')).toBe(2);
    expect(s.requests.filter((r) => r.item === 'item-1').map((r) => r.responseFormat)).toEqual(['json_schema:judgement', 'none']);
    expect(res.failures[0]!.message).toMatch(/failed after 4 attempt\(s\).*HTTP 500/);
    expect(res.failures[1]!.message).toMatch(/not retryable.*HTTP 400/);
  });

  it('under random faults every item ends labelled or failed, with bounded requests', async () => {
    // Deterministic per (item, attempt): a cheap hash picks the fault.
    const kinds: Fault[] = [
      { kind: 'status', status: 500 },
      { kind: 'status', status: 429, retryAfterMs: '5' },
      { kind: 'slow', delayMs: 1000 },
      { kind: 'drop' },
      { kind: 'malformed-body' },
      { kind: 'malformed-reply' },
      { kind: 'fenced' },
      { kind: 'status', status: 502 },
    ];
    const s = await server({
      fault: (r) => {
        const h = (Number(r.item.slice(5)) * 2654435761 + r.attempt * 40503) >>> 0;
        return h % 10 < 6 ? kinds[h % kinds.length] : undefined;
      },
    });
    const maxRetries = 2;
    const progress: string[] = [];
    const res = await labelPairs(await pairs(40), judgeFor(s, { maxRetries, timeoutMs: 100, concurrency: 8 }), {
      concurrency: 8,
      onProgress: (e) => progress.push(e.type),
    });
    expect(res.summary.total).toBe(40);
    expect(res.summary.labelled + res.summary.failed).toBe(40);
    expect(res.labels.every((l) => l.status === 'labelled' || (l.status === 'failed' && l.error))).toBe(true);
    expect(res.failures.map((f) => f.index)).toEqual(res.labels.filter((l) => l.status === 'failed').map((l) => l.index));
    for (const [, n] of s.counts()) expect(n).toBeLessThanOrEqual(2 * (maxRetries + 1));
    expect(res.summary.labelled).toBeGreaterThan(0);
    expect(progress[0]).toBe('start');
    expect(progress.at(-1)).toBe('done');
    expect(progress.filter((p) => p === 'item')).toHaveLength(40);
  });

  it('never writes or reports the API key, even when the server echoes it', async () => {
    const s = await server({
      fault: (r) => (r.item === 'item-1' ? { kind: 'status', status: 500, body: JSON.stringify({ error: { message: `bad auth ${r.authorization}` } }) } : undefined),
    });
    const cacheFile = join(dir, 'secret-check', 'cache.jsonl');
    const events: JudgeEvent[] = [];
    const j = judgeFor(s, { cacheFile, maxRetries: 1, onEvent: (e) => events.push(e) });
    const res = await labelPairs(await pairs(3), j);
    expect(res.summary).toMatchObject({ labelled: 2, failed: 1 });
    expect(s.requests.every((r) => r.authorization === `Bearer ${KEY}`)).toBe(true);
    const failure = res.failures[0]!;
    expect(failure.message).toContain('[redacted]');
    expect(failure.message).not.toContain(KEY);
    expect(JSON.stringify(events)).not.toContain(KEY);
    const files = await filesUnder(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) expect(await readFile(f, 'utf8')).not.toContain(KEY);
    // An error object itself carries no key either.
    try {
      await j.compare({ first: { kind: 'image', bytes: await solidPng(9, 9, 9) }, second: { kind: 'image', bytes: await solidPng(8, 8, 8) }, prompt: 'item-1' });
      expect.unreachable();
    } catch (e) {
      expect(isVlmError(e)).toBe(true);
      expect(JSON.stringify({ m: (e as Error).message, ...(e as object) })).not.toContain(KEY);
    }
  });

  it('refuses an apiKeyEnv that is not set, without printing any value', () => {
    expect(() => openAIJudge({ baseURL: 'http://127.0.0.1:9/v1', model: 'm', apiKeyEnv: 'PREFKIT_SURELY_UNSET_VAR' })).toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: Environment variable PREFKIT_SURELY_UNSET_VAR (apiKeyEnv) is not set or empty; export it, or leave apiKeyEnv out for servers that need no key.]`,
    );
  });

  it('caches answers on disk: a second judge on the same file asks nothing', async () => {
    const s = await server();
    const cacheFile = join(dir, 'c1.jsonl');
    const recs = await pairs(5);
    const r1 = await labelPairs(recs, judgeFor(s, { cacheFile }));
    expect(r1.summary).toMatchObject({ labelled: 5, cached: 0 });
    expect(s.requests).toHaveLength(5);
    const r2 = await labelPairs(recs, judgeFor(s, { cacheFile }));
    expect(r2.summary).toMatchObject({ labelled: 5, cached: 5 });
    expect(s.requests).toHaveLength(5);
    expect(r2.labels.map((l) => l.preference)).toEqual(r1.labels.map((l) => l.preference));
    // A different model or criteria is a different question.
    await labelPairs(recs.slice(0, 1), judgeFor(s, { cacheFile }), { criteria: 'motion' });
    await labelPairs(recs.slice(0, 1), judgeFor(s, { cacheFile, model: 'other' }));
    expect(s.requests).toHaveLength(7);
    const lines = (await readFile(cacheFile, 'utf8')).trim().split('\n');
    expect(lines).toHaveLength(7);
    expect(JSON.parse(lines[0]!)).toMatchObject({ v: 1, kind: 'compare', model: 'fake-vlm', value: { preference: 'first' } });
  });

  it('asks again when a cached entry no longer matches the reply schema', async () => {
    const s = await server();
    const cacheFile = join(dir, 'edited.jsonl');
    const recs = await pairs(2);
    await labelPairs(recs, judgeFor(s, { cacheFile }));
    const lines = (await readFile(cacheFile, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    lines[0].value.preference = 'maybe';
    await writeFile(cacheFile, lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const res = await labelPairs(recs, judgeFor(s, { cacheFile }));
    expect(res.summary).toMatchObject({ labelled: 2, cached: 1 });
    expect(s.requests).toHaveLength(3);
  });

  it('resumes an aborted run without asking answered items again', async () => {
    const s = await server({ latencyMs: 25 });
    const cacheFile = join(dir, 'abort.jsonl');
    const recs = await pairs(12);
    const ac = new AbortController();
    const answeredRun1: number[] = [];
    await expect(
      labelPairs(recs, judgeFor(s, { cacheFile }), {
        concurrency: 2,
        signal: ac.signal,
        onProgress: (e) => {
          if (e.type === 'item' && e.status === 'labelled') answeredRun1.push(e.index);
          if (answeredRun1.length === 5) ac.abort();
        },
      }),
    ).rejects.toSatisfy((e) => isPrefkitError(e) && e.code === 'ABORTED');
    expect(answeredRun1.length).toBeGreaterThanOrEqual(5);
    expect(answeredRun1.length).toBeLessThan(12);
    const before = s.counts();
    const res = await labelPairs(recs, judgeFor(s, { cacheFile }), { concurrency: 4 });
    expect(res.summary).toMatchObject({ labelled: 12, failed: 0 });
    const after = s.counts();
    for (const i of answeredRun1) {
      expect(after.get(`item-${i}`)).toBe(before.get(`item-${i}`));
      expect(res.labels[i]!.cached).toBe(true);
    }
    for (let i = 0; i < 12; i++) if (!answeredRun1.includes(i)) expect(res.labels[i]!.cached).toBe(false);
  });

  it('resumes after the labelling process is killed (SIGKILL) mid-run', async () => {
    const cacheFile = join(dir, 'killed.jsonl');
    let child: ReturnType<typeof spawn> | undefined;
    let served = 0;
    const s = await server({
      latencyMs: 30,
      answer: () => {
        if (++served === 5 && child?.pid) process.kill(child.pid, 'SIGKILL');
        return { preference: 'second', confidence: 0.6, rationale: 'r' };
      },
    });
    child = spawn(process.execPath, ['--import', 'tsx', join(here, 'helpers', 'label-child.ts')], {
      env: { ...process.env, PREFKIT_CHILD_N: '12', PREFKIT_CHILD_URL: s.baseURL, PREFKIT_CHILD_CACHE: cacheFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += String(d)));
    const code = await new Promise<string | number | null>((r) => child!.on('exit', (c, sig) => r(sig ?? c)));
    expect(code).toBe('SIGKILL');
    expect(out).not.toContain('finished');
    const cache = await JudgeCache.open(cacheFile);
    expect(cache.size).toBeGreaterThanOrEqual(1);
    expect(cache.size).toBeLessThan(12);
    const before = s.counts();
    const res = await labelPairs(await pairs12(), judgeFor(s, { cacheFile }));
    expect(res.summary).toMatchObject({ labelled: 12, failed: 0, cached: cache.size });
    const after = s.counts();
    for (const l of res.labels) {
      if (l.cached) expect(after.get(`item-${l.index}`)).toBe(before.get(`item-${l.index}`));
      else expect(after.get(`item-${l.index}`)).toBe((before.get(`item-${l.index}`) ?? 0) + 1);
    }
  });

  it('asks both orders and reconciles a judge biased towards the first slot into ties', async () => {
    const s = await server({ answer: () => ({ preference: 'first', confidence: 0.9, rationale: 'always first' }) });
    const res = await labelPairs(await pairs(3), judgeFor(s, { bothOrders: true }));
    expect(s.requests).toHaveLength(6);
    for (const l of res.labels) expect(l).toMatchObject({ preference: 'tie', p: 0.5, label: 0.5, positionConsistent: false });
  });

  it('captions an image (DCPO) with a caption schema, and caches it', async () => {
    const s = await server({ caption: () => 'a small red square' });
    const cacheFile = join(dir, 'cap.jsonl');
    const img = await solidPng(255, 0, 0);
    expect(await captionImage(judgeFor(s, { cacheFile }), img)).toBe('a small red square');
    expect(await captionImage(judgeFor(s, { cacheFile }), img)).toBe('a small red square');
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]!.responseFormat).toBe('json_schema:caption');
    expect(s.requests[0]!.images).toHaveLength(1);
  });

  it('captions both images of pairs given the prompt (DCPO-c), reporting failures per pair', async () => {
    const s = await server({
      caption: (r) => `caption of ${r.item}`,
      fault: (r) => (r.item === 'item-1' ? { kind: 'status', status: 500 } : undefined),
    });
    const res = await captionPairs(await pairs(3), judgeFor(s, { maxRetries: 0 }));
    expect(res.captions[0]).toMatchObject({ status: 'labelled', captionChosen: 'caption of item-0', captionRejected: 'caption of item-0' });
    expect(res.captions[1]).toMatchObject({ status: 'failed' });
    expect(res.summary).toMatchObject({ labelled: 2, failed: 1 });
    expect(s.requests.find((r) => r.item === 'item-2')!.text).toContain('generated for the prompt "item-2"');
    const only = await captionPairs((await pairs(1)).map((p) => ({ ...p, prompt: 'item-7' })), judgeFor(s), { which: 'rejected' });
    expect(only.captions[0]).toMatchObject({ captionChosen: 'item-7', captionRejected: 'caption of item-7' });
  });
});

async function pairs12() {
  // Same media as helpers/label-child.ts.
  const out: LabelPairRecord[] = [];
  for (let i = 0; i < 12; i++) out.push({ prompt: `item-${i}`, chosen: await solidPng(10 * i, 0, 0), rejected: await solidPng(0, 10 * i, 0) });
  return out;
}
