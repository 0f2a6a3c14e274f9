import { describe, expect, it } from 'vitest';
import { isVlmError } from '../../src/errors.js';
import { CaptionReplySchema, JudgementReplySchema, extractJson, parseReply } from '../../src/vlm/schema.js';

describe('extractJson', () => {
  it('parses plain JSON, fenced JSON and an object inside prose', () => {
    expect(extractJson('{"a": 1}')).toEqual({ a: 1 });
    expect(extractJson('Sure!\n```json\n{"a": 2}\n```\n')).toEqual({ a: 2 });
    expect(extractJson('```\n{"a": 3}\n```')).toEqual({ a: 3 });
    expect(extractJson('My answer is {"a": 4} as requested.')).toEqual({ a: 4 });
  });
  it('throws VLM_REPLY_INVALID when there is no JSON', () => {
    expect(() => extractJson('the first one')).toThrowErrorMatchingInlineSnapshot(
      `[VlmError: VLM reply is not JSON (got "the first one"); expected a JSON object, optionally inside a \`\`\`json fence.]`,
    );
    try {
      extractJson('{broken');
    } catch (e) {
      expect(isVlmError(e) && e.code).toBe('VLM_REPLY_INVALID');
    }
  });
});

describe('parseReply', () => {
  it('validates a judgement and normalises case and numeric strings', () => {
    expect(parseReply(JudgementReplySchema, '{"rationale":"r","preference":" First ","confidence":"0.25"}')).toEqual({
      rationale: 'r',
      preference: 'first',
      confidence: 0.25,
    });
  });
  it('names the failing fields', () => {
    expect(() => parseReply(JudgementReplySchema, '{"rationale":"r","preference":"both","confidence":2}')).toThrow(/preference: .*; confidence: /);
    expect(() => parseReply(JudgementReplySchema, '{"preference":"tie","confidence":0.5}')).toThrow(/rationale/);
    expect(() => parseReply(CaptionReplySchema, '{"caption":""}')).toThrow(/caption/);
  });
});
