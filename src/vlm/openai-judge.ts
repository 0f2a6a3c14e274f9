/**
 * A {@link Judge} backed by any OpenAI-compatible chat-completions server with vision
 * (vLLM, Ollama, llama.cpp `llama-server`, OpenAI), through the official `openai` client.
 *
 * Reliability, all in this file:
 * - the `openai` client's own retries are OFF (`maxRetries: 0`); this judge retries instead, so
 *   the number of requests per question is bounded and counted: at most `maxRetries + 1` HTTP
 *   requests per ask, and at most 2 asks (one re-ask after an invalid reply) per question, i.e.
 *   ≤ 2·(maxRetries + 1) requests per comparison, doubled with `bothOrders` (plus, once, a repeat
 *   without `response_format` when a server rejects it with HTTP 400/422);
 * - retried: HTTP 408, 409, 429 and 5xx, timeouts and dropped or refused connections; the wait is
 *   the server's `Retry-After`/`retry-after-ms` when given (capped at `maxRetryAfterMs`), else
 *   exponential back-off with jitter;
 * - a per-request timeout (`timeoutMs`) covering the whole response;
 * - at most `concurrency` requests in flight per judge (back-off waits do not hold a slot);
 * - answers go to a JSONL cache as they arrive, keyed by content hashes, prompt text and model;
 * - the API key is read from the environment only and scrubbed from every message it produces.
 * @module
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';
import { createRng } from '../core/random.js';
import { ConfigError, PrefkitError, VlmError, isPrefkitError, parseWithSchema } from '../errors.js';
import { JudgeCache, cacheKey } from './cache.js';
import { bothOrdersJudge } from './judges.js';
import { encodeMedia, type EncodeOptions } from './media.js';
import { JUDGE_SYSTEM_PROMPT, PROMPT_VERSION, buildCaptionPrompt, buildComparePrompt, buildReaskPrompt } from './prompts.js';
import { Limiter, abortError, backoffDelay, parseRetryAfter, sleep } from './retry.js';
import { CaptionReplySchema, JudgementReplySchema, excerpt, parseReply } from './schema.js';
import type { Judge, JudgeMedia, JudgeRequest, Judgement } from './types.js';

/** zod schema of {@link openAIJudge}'s options (without the `onEvent` callback). */
export const OpenAIJudgeOptionsSchema = z.object({
  /** Server base URL including `/v1`, e.g. `http://127.0.0.1:8000/v1`. */
  baseURL: z.string().url(),
  /** Model name as the server knows it. */
  model: z.string().min(1),
  /** Name of the environment variable holding the API key. Default `OPENAI_API_KEY`; when that is unset a placeholder is sent (local servers need none). */
  apiKeyEnv: z.string().min(1).optional(),
  /** Longest side of each image sent, in pixels. */
  maxSide: z.number().int().min(16).max(8192).default(512),
  /** JPEG quality. */
  jpegQuality: z.number().int().min(1).max(100).default(85),
  /** Per-request timeout in ms (whole response). */
  timeoutMs: z.number().int().positive().default(60_000),
  /** Retries per ask after the first request. */
  maxRetries: z.number().int().min(0).max(50).default(3),
  /** First back-off in ms (doubles each retry, with jitter). */
  baseDelayMs: z.number().min(0).default(500),
  /** Cap on one back-off in ms. */
  maxDelayMs: z.number().min(0).default(20_000),
  /** Cap on a server's Retry-After in ms. */
  maxRetryAfterMs: z.number().min(0).default(60_000),
  /** Requests in flight at once. */
  concurrency: z.number().int().min(1).max(1024).default(4),
  /** Ask each comparison in both orders and reconcile (position-bias control). */
  bothOrders: z.boolean().default(false),
  /** JSONL answer cache; a rerun with the same file asks nothing already answered. */
  cacheFile: z.string().min(1).optional(),
  /** `json_schema` (strict, from the zod schema), `json_object`, or `none` for servers that reject response_format. */
  responseFormat: z.enum(['json_schema', 'json_object', 'none']).default('json_schema'),
  /** Sampling temperature. */
  temperature: z.number().min(0).max(2).default(0),
  /** Reply token limit (`max_tokens`). */
  maxTokens: z.number().int().positive().default(512),
  /** Frames sampled per video segment. */
  framesPerSegment: z.number().int().min(1).max(64).default(4),
  /** How sampled frames are sent: one grid image, one strip image, or separate images. */
  frameLayout: z.enum(['grid', 'strip', 'separate']).default('grid'),
  /** Seed of the back-off jitter. */
  seed: z.number().int().default(0),
  /** Re-ask once after an invalid reply. */
  reask: z.boolean().default(true),
  /**
   * When the server answers HTTP 400/422 to a request carrying `response_format` (servers that do
   * not support it), repeat it once without, and send none from then on. The reply is still validated.
   */
  responseFormatFallback: z.boolean().default(true),
  /** Replacement system prompt. */
  systemPrompt: z.string().optional(),
});

/** Options of {@link openAIJudge}. */
export type OpenAIJudgeOptions = z.input<typeof OpenAIJudgeOptionsSchema> & {
  /** Receives request, retry, cache and failure events. Must not throw. */
  onEvent?: (event: JudgeEvent) => void;
};

/** Events an {@link OpenAIJudge} emits. `key` is the cache key of the question. */
export type JudgeEvent =
  | { type: 'request'; key: string; attempt: number }
  | { type: 'retry'; key: string; attempt: number; delayMs: number; reason: string; status?: number }
  | { type: 'invalid-reply'; key: string; problem: string; willReask: boolean }
  | { type: 'cache-hit'; key: string }
  | { type: 'response-format-dropped'; key: string; status: number; reason: string }
  | { type: 'answer'; key: string; ms: number }
  | { type: 'failure'; key: string; message: string };

/** Counters of an {@link OpenAIJudge}. */
export interface JudgeStats {
  /** HTTP requests started. */
  requests: number;
  /** Retries after transport failures. */
  retries: number;
  /** Replies that failed validation. */
  invalidReplies: number;
  /** Answers served from the cache. */
  cacheHits: number;
  /** New answers obtained. */
  answers: number;
  /** Questions that ended in failure. */
  failures: number;
}

/** A judge backed by an OpenAI-compatible server; also captions images. */
export interface OpenAIJudge extends Judge {
  /** The model name. */
  readonly model: string;
  /** Live counters. */
  readonly stats: Readonly<JudgeStats>;
  /**
   * Caption an image (DCPO's captioning strategy).
   * @param image - the image.
   * @param options - `instruction` replaces the default instruction; `prompt` is the generation prompt (DCPO-c).
   */
  caption(image: JudgeMedia, options?: { instruction?: string; prompt?: string; signal?: AbortSignal }): Promise<string>;
}

type ChatMessage = OpenAI.Chat.Completions.ChatCompletionMessageParam;

const CompletionShape = z.object({
  choices: z
    .array(z.object({ message: z.object({ content: z.string().nullable().optional() }), finish_reason: z.string().nullable().optional() }))
    .min(1),
});

/** Replace every occurrence of each secret in `text` with `[redacted]`. */
export function scrubSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]');
  return out;
}

/**
 * Create a judge that asks an OpenAI-compatible vision model.
 * @param options - see {@link OpenAIJudgeOptionsSchema}; `baseURL` and `model` are required.
 * @returns an {@link OpenAIJudge}.
 * @throws {ConfigError} for invalid options, or when `apiKeyEnv` names an unset variable.
 * @example
 * const judge = openAIJudge({ baseURL: 'http://127.0.0.1:11434/v1', model: 'qwen2.5vl:7b', cacheFile: 'labels.cache.jsonl' });
 * const j = await judge.compare({ first: { kind: 'image', path: 'a.png' }, second: { kind: 'image', path: 'b.png' }, prompt: 'a red fox' });
 */
export function openAIJudge(options: OpenAIJudgeOptions): OpenAIJudge {
  const { onEvent, ...rest } = options;
  const o = parseWithSchema(OpenAIJudgeOptionsSchema, rest, 'openAIJudge options');
  const envName = o.apiKeyEnv ?? 'OPENAI_API_KEY';
  const envKey = process.env[envName];
  if (o.apiKeyEnv && !envKey) {
    throw new ConfigError(`Environment variable ${envName} (apiKeyEnv) is not set or empty; export it, or leave apiKeyEnv out for servers that need no key.`, {
      source: 'openAIJudge options',
    });
  }
  const apiKey = envKey || 'no-key-required';
  const secrets = envKey ? [envKey] : [];
  const scrub = (s: string) => scrubSecrets(s, secrets);
  const client = new OpenAI({ baseURL: o.baseURL, apiKey, maxRetries: 0, timeout: o.timeoutMs, organization: null, project: null });
  const endpoint = `${o.baseURL.replace(/\/+$/, '')}/chat/completions`;
  const limiter = new Limiter(o.concurrency);
  const rng = createRng(o.seed);
  const encodeOpts: EncodeOptions = { maxSide: o.maxSide, quality: o.jpegQuality, framesPerSegment: o.framesPerSegment, frameLayout: o.frameLayout };
  const system = o.systemPrompt ?? JUDGE_SYSTEM_PROMPT;
  const stats: JudgeStats = { requests: 0, retries: 0, invalidReplies: 0, cacheHits: 0, answers: 0, failures: 0 };
  let cachePromise: Promise<JudgeCache | undefined> | undefined;
  const getCache = () => (cachePromise ??= o.cacheFile ? JudgeCache.open(o.cacheFile) : Promise.resolve(undefined));
  const inflight = new Map<string, Promise<unknown>>();
  const formats = {
    judgement: zodResponseFormat(JudgementReplySchema, 'judgement'),
    caption: zodResponseFormat(CaptionReplySchema, 'caption'),
  };
  let responseFormat = o.responseFormat;
  const emit = (e: JudgeEvent) => {
    try {
      onEvent?.(e);
    } catch {
      /* a listener's error must not break labelling */
    }
  };

  type Outcome = { content: string } | { invalid: string };

  async function requestOnce(messages: ChatMessage[], format: 'judgement' | 'caption', key: string, signal?: AbortSignal): Promise<Outcome> {
    const body: OpenAI.Chat.Completions.ChatCompletionCreateParamsNonStreaming = {
      model: o.model,
      messages,
      temperature: o.temperature,
      max_tokens: o.maxTokens,
    };
    const setFormat = () => {
      delete body.response_format;
      if (responseFormat === 'json_schema') body.response_format = formats[format];
      else if (responseFormat === 'json_object') body.response_format = { type: 'json_object' };
    };
    setFormat();
    let droppedFormat = false;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw abortError();
      // The timeout starts when the request is sent, not while it waits for a concurrency slot.
      let timeout: AbortSignal | undefined;
      let failure: { reason: string; status?: number; retryAfterMs?: number; retryable: boolean; body?: string };
      try {
        const completion = await limiter.run(() => {
          stats.requests++;
          emit({ type: 'request', key, attempt });
          timeout = AbortSignal.timeout(o.timeoutMs);
          const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
          return client.chat.completions.create(body, { signal: combined, timeout: o.timeoutMs, maxRetries: 0 });
        }, signal);
        const shape = CompletionShape.safeParse(completion);
        if (!shape.success) return { invalid: `the response is not a chat completion (got ${JSON.stringify(excerpt(JSON.stringify(completion) ?? 'undefined'))}).` };
        const choice = shape.data.choices[0]!;
        const content = choice.message.content;
        if (!content || !content.trim()) return { invalid: `the reply was empty (finish_reason ${choice.finish_reason ?? 'unknown'}).` };
        return { content };
      } catch (e) {
        if (signal?.aborted) throw abortError();
        if (isPrefkitError(e) && e.code === 'ABORTED') throw e;
        if (e instanceof SyntaxError) return { invalid: `the response body is not valid JSON (${e.message}).` };
        if (timeout?.aborted || e instanceof APIConnectionTimeoutError) {
          failure = { reason: `no complete response within ${o.timeoutMs} ms`, retryable: true };
        } else if (e instanceof APIUserAbortError) {
          failure = { reason: 'request aborted', retryable: true };
        } else if (e instanceof APIConnectionError) {
          failure = { reason: `connection failed or dropped (${(e.cause as Error | undefined)?.message ?? e.message})`, retryable: true };
        } else if (e instanceof APIError && typeof e.status === 'number') {
          const s = e.status;
          failure = {
            reason: `HTTP ${s}: ${e.message}`,
            status: s,
            retryable: s === 408 || s === 409 || s === 429 || s >= 500,
            retryAfterMs: parseRetryAfter(e.headers as Headers | undefined),
            body: e.error === undefined ? undefined : JSON.stringify(e.error),
          };
        } else {
          failure = { reason: `unexpected error: ${(e as Error)?.message ?? String(e)}`, retryable: false };
        }
      }
      if (
        o.responseFormatFallback &&
        !droppedFormat &&
        body.response_format !== undefined &&
        (failure.status === 400 || failure.status === 422)
      ) {
        // The server may not support response_format: ask the same question once without it.
        droppedFormat = true;
        responseFormat = 'none';
        setFormat();
        emit({ type: 'response-format-dropped', key, status: failure.status, reason: scrub(failure.reason) });
        attempt--;
        continue;
      }
      if (!failure.retryable || attempt >= o.maxRetries) {
        const what = failure.retryable ? `after ${attempt + 1} attempt(s) (maxRetries ${o.maxRetries})` : '(not retryable)';
        throw new VlmError(scrub(`VLM request to ${endpoint} for model ${o.model} failed ${what}: ${failure.reason}`), {
          status: failure.status,
          url: endpoint,
          bodyExcerpt: failure.body === undefined ? undefined : scrub(excerpt(failure.body)),
        });
      }
      const delayMs =
        failure.retryAfterMs !== undefined ? Math.min(failure.retryAfterMs, o.maxRetryAfterMs) : backoffDelay(attempt, { baseDelayMs: o.baseDelayMs, maxDelayMs: o.maxDelayMs }, rng);
      stats.retries++;
      emit({ type: 'retry', key, attempt: attempt + 1, delayMs, reason: scrub(failure.reason), status: failure.status });
      await sleep(delayMs, signal);
    }
  }

  async function askValidated<S extends z.ZodType>(
    messages: ChatMessage[],
    schema: S,
    format: 'judgement' | 'caption',
    fields: string,
    key: string,
    signal?: AbortSignal,
  ): Promise<z.infer<S>> {
    let msgs = messages;
    const rounds = o.reask ? 2 : 1;
    for (let round = 0; round < rounds; round++) {
      const out = await requestOnce(msgs, format, key, signal);
      let problem: string;
      if ('content' in out) {
        try {
          return parseReply(schema, out.content);
        } catch (e) {
          if (!(e instanceof VlmError)) throw e;
          problem = e.message;
        }
      } else problem = out.invalid;
      stats.invalidReplies++;
      const willReask = round + 1 < rounds;
      emit({ type: 'invalid-reply', key, problem: scrub(problem), willReask });
      if (!willReask) {
        throw new VlmError(scrub(`VLM reply from model ${o.model} stayed invalid${o.reask ? ' after one re-ask' : ''}: ${problem}`), {
          code: 'VLM_REPLY_INVALID',
          url: endpoint,
        });
      }
      msgs = [
        ...messages,
        ...('content' in out ? [{ role: 'assistant' as const, content: out.content }] : []),
        { role: 'user' as const, content: buildReaskPrompt(problem, fields) },
      ];
    }
    throw new PrefkitError('INTERNAL', 'unreachable');
  }

  async function cached<T>(key: string, kind: string, schema: z.ZodType<T>, produce: () => Promise<T>): Promise<{ value: T; cached: boolean }> {
    const cache = await getCache();
    const hit = cache?.get(key);
    // An entry that no longer matches the reply schema (hand-edited, older format) is asked again.
    if (hit && schema.safeParse(hit.value).success) {
      stats.cacheHits++;
      emit({ type: 'cache-hit', key });
      return { value: hit.value as T, cached: true };
    }
    const pending = inflight.get(key) as Promise<T> | undefined;
    if (pending) return { value: await pending, cached: false };
    const started = Date.now();
    const p = (async () => {
      try {
        const value = await produce();
        stats.answers++;
        emit({ type: 'answer', key, ms: Date.now() - started });
        if (cache) await cache.put({ key, kind, model: o.model, value });
        return value;
      } catch (e) {
        if (!(isPrefkitError(e) && e.code === 'ABORTED')) {
          stats.failures++;
          emit({ type: 'failure', key, message: scrub((e as Error).message) });
        }
        throw e;
      } finally {
        inflight.delete(key);
      }
    })();
    inflight.set(key, p);
    return { value: await p, cached: false };
  }

  const imageParts = (urls: string[]) => urls.map((url) => ({ type: 'image_url' as const, image_url: { url } }));

  async function compareOnce(request: JudgeRequest, signal?: AbortSignal): Promise<Judgement> {
    if (signal?.aborted) throw abortError();
    const [a, b] = await Promise.all([encodeMedia(request.first, encodeOpts), encodeMedia(request.second, encodeOpts)]);
    const kind = request.first.kind === 'frames' || request.second.kind === 'frames' ? 'frames' : 'image';
    const text = buildComparePrompt({
      prompt: request.prompt,
      criteria: request.criteria,
      context: request.context,
      kind,
      framesShown: a.frameIndices?.length ?? o.framesPerSegment,
      frameLayout: o.frameLayout,
    });
    const key = cacheKey({ v: PROMPT_VERSION, kind: 'compare', model: o.model, system, text, first: a.hash, second: b.hash, criteria: request.criteria?.trim() || 'overall', prompt: request.prompt ?? null });
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: [{ type: 'text', text }, ...imageParts(a.dataUrls), ...imageParts(b.dataUrls)] },
    ];
    const { value, cached: fromCache } = await cached(key, 'compare', JudgementReplySchema, () =>
      askValidated(messages, JudgementReplySchema, 'judgement', '{"rationale", "preference", "confidence"}', key, signal),
    );
    const reply = value as z.infer<typeof JudgementReplySchema>;
    return { preference: reply.preference, confidence: reply.confidence, rationale: reply.rationale, cached: fromCache };
  }

  const base: Judge = { id: `openai:${o.model}`, compare: (req, opts) => compareOnce(req, opts?.signal) };
  const ordered = o.bothOrders ? bothOrdersJudge(base) : base;

  return {
    id: ordered.id,
    model: o.model,
    stats,
    compare: (req, opts) => ordered.compare(req, opts),
    async caption(image, opts = {}) {
      if (opts.signal?.aborted) throw abortError();
      const enc = await encodeMedia(image, encodeOpts);
      const text = buildCaptionPrompt(opts.instruction, opts.prompt);
      const key = cacheKey({ v: PROMPT_VERSION, kind: 'caption', model: o.model, text, media: enc.hash });
      const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'text', text }, ...imageParts(enc.dataUrls)] }];
      const { value } = await cached(key, 'caption', CaptionReplySchema, () => askValidated(messages, CaptionReplySchema, 'caption', '{"caption"}', key, opts.signal));
      return (value as z.infer<typeof CaptionReplySchema>).caption;
    },
  };
}
