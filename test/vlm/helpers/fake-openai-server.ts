/**
 * A real HTTP server on 127.0.0.1 (random port) speaking enough of the OpenAI
 * chat-completions protocol for the VLM tests and bench, with injectable faults:
 * HTTP errors (500, 429 + Retry-After, ...), replies slower than the client's timeout,
 * malformed bodies, malformed or fenced replies, and dropped connections (socket.destroy()).
 * It records every request, per "item" (found by a marker in the prompt text).
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import sharp from 'sharp';

/** One request as the server saw it. */
export interface FakeRequest {
  /** 0-based arrival order. */
  seq: number;
  /** Item key: the `item-<n>` marker in the prompt, else `'?'`. */
  item: string;
  /** How many earlier requests this item had. */
  attempt: number;
  body: any;
  /** All text parts of the last user message. */
  text: string;
  /** Image data URLs of the last user message, in order. */
  images: string[];
  authorization?: string;
  receivedAt: number;
  /** Which response_format was asked: `json_schema:<name>`, `json_object` or `none`. */
  responseFormat: string;
}

/** What the server does with a request. */
export type Fault =
  | { kind: 'ok' }
  | { kind: 'status'; status: number; retryAfter?: string; retryAfterMs?: string; body?: string }
  | { kind: 'slow'; delayMs: number }
  | { kind: 'drop' }
  | { kind: 'malformed-body' }
  | { kind: 'malformed-reply' }
  | { kind: 'fenced' }
  | { kind: 'raw-reply'; content: string };

/** A reply the fake model gives. */
export interface FakeAnswer {
  preference: 'first' | 'second' | 'tie';
  confidence: number;
  rationale: string;
}

export interface FakeServerOptions {
  /** The model's answer to a comparison; default `first` with confidence 0.8. */
  answer?: (req: FakeRequest) => FakeAnswer | Promise<FakeAnswer>;
  /** The caption for caption requests. */
  caption?: (req: FakeRequest) => string | Promise<string>;
  /** Fault to inject for a request; default none. */
  fault?: (req: FakeRequest) => Fault | undefined;
  /** Simulated model latency in ms for every successful reply. */
  latencyMs?: number;
  /** Required bearer token; requests without it get 401. */
  apiKey?: string;
}

export interface FakeServer {
  /** Base URL with `/v1`. */
  baseURL: string;
  requests: FakeRequest[];
  /** Requests per item. */
  counts(): Map<string, number>;
  /** Items that got a 200 with a valid completion, with how many times. */
  answered: Map<string, number>;
  close(): Promise<void>;
}

function lastUser(body: any): { text: string; images: string[] } {
  const msgs: any[] = Array.isArray(body?.messages) ? body.messages : [];
  const users = msgs.filter((m) => m?.role === 'user');
  const first = users[0];
  const texts: string[] = [];
  const images: string[] = [];
  const collect = (m: any) => {
    if (typeof m?.content === 'string') texts.push(m.content);
    else if (Array.isArray(m?.content))
      for (const p of m.content) {
        if (p?.type === 'text') texts.push(String(p.text));
        if (p?.type === 'image_url') images.push(String(p.image_url?.url));
      }
  };
  // The images live in the first user message; a re-ask appends a text-only user message.
  if (first) collect(first);
  for (const u of users.slice(1)) collect(u);
  return { text: texts.join('\n'), images };
}

/** Mean brightness (0-255) of a JPEG data URL, or of one tile of a grid. */
export async function meanBrightness(dataUrl: string): Promise<number> {
  const b64 = dataUrl.replace(/^data:image\/jpeg;base64,/, '');
  const stats = await sharp(Buffer.from(b64, 'base64')).stats();
  return (stats.channels[0]!.mean + stats.channels[1]!.mean + stats.channels[2]!.mean) / 3;
}

function completion(content: string, model: string) {
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
  };
}

/** Start the server on 127.0.0.1 with a random port. */
export async function startFakeServer(options: FakeServerOptions = {}): Promise<FakeServer> {
  const requests: FakeRequest[] = [];
  const perItem = new Map<string, number>();
  const answered = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  const wait = (ms: number) =>
    new Promise<void>((r) => {
      const t = setTimeout(() => {
        timers.delete(t);
        r();
      }, ms);
      timers.add(t);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method !== 'POST' || !req.url?.endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: `no route ${req.url}` } }));
      return;
    }
    let body: any;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'bad json' } }));
      return;
    }
    const { text, images } = lastUser(body);
    const item = /item-(\d+)/.exec(text)?.[0] ?? '?';
    const attempt = perItem.get(item) ?? 0;
    perItem.set(item, attempt + 1);
    const rf = body.response_format;
    const r: FakeRequest = {
      seq: requests.length,
      item,
      attempt,
      body,
      text,
      images,
      authorization: req.headers.authorization,
      receivedAt: Date.now(),
      responseFormat: !rf ? 'none' : rf.type === 'json_schema' ? `json_schema:${rf.json_schema?.name}` : String(rf.type),
    };
    requests.push(r);
    if (options.apiKey !== undefined && req.headers.authorization !== `Bearer ${options.apiKey}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'invalid api key' } }));
      return;
    }
    const fault = options.fault?.(r) ?? { kind: 'ok' };
    if (fault.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault.kind === 'status') {
      const headers: Record<string, string> = { 'content-type': 'application/json' };
      if (fault.retryAfter !== undefined) headers['retry-after'] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) headers['retry-after-ms'] = fault.retryAfterMs;
      // Tell the openai client not to apply its own retry logic twice (it is off anyway).
      res.writeHead(fault.status, headers).end(fault.body ?? JSON.stringify({ error: { message: `injected ${fault.status}` } }));
      return;
    }
    if (fault.kind === 'slow') await wait(fault.delayMs);
    else if (options.latencyMs) await wait(options.latencyMs);
    if (res.destroyed || req.socket.destroyed) return;
    if (fault.kind === 'malformed-body') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"choices": [ {"message": ');
      return;
    }
    const isCaption = r.responseFormat === 'json_schema:caption' || /"caption"/.test(text);
    let content: string;
    if (fault.kind === 'malformed-reply') content = 'I think the first one is nicer, confidence high {not json';
    else if (fault.kind === 'raw-reply') content = fault.content;
    else if (isCaption) content = JSON.stringify({ caption: options.caption ? await options.caption(r) : 'a fake caption' });
    else {
      const a = options.answer ? await options.answer(r) : { preference: 'first' as const, confidence: 0.8, rationale: 'first looks better' };
      content = JSON.stringify(a);
      if (fault.kind === 'fenced') content = `Here is my verdict:\n\`\`\`json\n${JSON.stringify(a, null, 2)}\n\`\`\`\nThanks.`;
    }
    if (res.destroyed || req.socket.destroyed) return;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(completion(content, String(body.model))));
    answered.set(item, (answered.get(item) ?? 0) + 1);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: String(e) } }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}/v1`,
    requests,
    counts: () => new Map(perItem),
    answered,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
