/**
 * zod schemas for VLM replies, and a lenient JSON extractor (plain JSON, JSON in markdown
 * fences, or the first `{...}` object in prose), always followed by strict zod validation.
 * @module
 */
import { z } from 'zod';
import { VlmError } from '../errors.js';

/**
 * What a VLM must reply when comparing two items. The rationale comes first so that a model
 * writing left to right reasons before it decides.
 */
export const JudgementReplySchema = z.object({
  rationale: z.string(),
  preference: z.enum(['first', 'second', 'tie']),
  confidence: z.number().min(0).max(1),
});
/** A validated comparison reply. */
export type JudgementReply = z.infer<typeof JudgementReplySchema>;

/** What a VLM must reply when captioning an image (DCPO). */
export const CaptionReplySchema = z.object({
  caption: z.string().min(1),
});
/** A validated caption reply. */
export type CaptionReply = z.infer<typeof CaptionReplySchema>;

const FENCE = /```(?:json|JSON)?\s*\n?([\s\S]*?)```/g;

/**
 * Pull a JSON value out of a model reply: the whole text, else the first markdown-fenced block
 * that parses, else the outermost `{...}` span.
 * @param text - the raw message content.
 * @returns the parsed JSON value.
 * @throws {VlmError} code `VLM_REPLY_INVALID` when no JSON can be found.
 */
export function extractJson(text: string): unknown {
  const trimmed = text.trim();
  const attempts: string[] = [trimmed];
  for (const m of trimmed.matchAll(FENCE)) attempts.push(m[1]!.trim());
  const open = trimmed.indexOf('{');
  const close = trimmed.lastIndexOf('}');
  if (open >= 0 && close > open) attempts.push(trimmed.slice(open, close + 1));
  for (const a of attempts) {
    if (!a) continue;
    try {
      return JSON.parse(a);
    } catch {
      /* try the next candidate */
    }
  }
  throw new VlmError(
    `VLM reply is not JSON (got ${JSON.stringify(excerpt(trimmed))}); expected a JSON object, optionally inside a \`\`\`json fence.`,
    { code: 'VLM_REPLY_INVALID', bodyExcerpt: excerpt(trimmed) },
  );
}

/**
 * Parse and validate a model reply with a zod schema. Before validation, string `preference`
 * values are trimmed and lower-cased, and a `confidence` given as a numeric string is converted.
 * @param schema - the reply schema ({@link JudgementReplySchema} or {@link CaptionReplySchema}).
 * @param text - the raw message content.
 * @returns the validated reply.
 * @throws {VlmError} code `VLM_REPLY_INVALID`, naming each failed field and what is accepted.
 */
export function parseReply<S extends z.ZodType>(schema: S, text: string): z.infer<S> {
  const value = normalise(extractJson(text));
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`).join('; ');
  throw new VlmError(`VLM reply does not match the schema (${issues}); got ${JSON.stringify(excerpt(text.trim()))}.`, {
    code: 'VLM_REPLY_INVALID',
    bodyExcerpt: excerpt(text.trim()),
  });
}

function normalise(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  const o = { ...(v as Record<string, unknown>) };
  if (typeof o.preference === 'string') o.preference = o.preference.trim().toLowerCase();
  if (typeof o.confidence === 'string' && o.confidence.trim() !== '' && Number.isFinite(Number(o.confidence))) {
    o.confidence = Number(o.confidence);
  }
  return o;
}

/** The first 200 characters of `s`. */
export function excerpt(s: string, n = 200): string {
  return s.length > n ? `${s.slice(0, n)}…` : s;
}
