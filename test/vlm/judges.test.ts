import { describe, expect, it } from 'vitest';
import {
  aggregateJudgements,
  bothOrdersJudge,
  functionJudge,
  panelJudge,
  preferenceProbability,
  reconcileOrders,
  type Judge,
  type JudgeMedia,
  type Judgement,
} from '../../src/vlm/index.js';

const img = (v: number): JudgeMedia => ({ kind: 'image', bytes: new Uint8Array([v]) });
const score = (m: JudgeMedia) => (m.kind === 'image' ? m.bytes![0]! : 0);

describe('functionJudge', () => {
  it('prefers the higher score with p = sigmoid(diff / temperature)', async () => {
    const j = functionJudge(score, { id: 'byte', temperature: 2 });
    const r = await j.compare({ first: img(5), second: img(3) });
    const p = 1 / (1 + Math.exp(-1));
    expect(r.preference).toBe('first');
    expect(r.p).toBeCloseTo(p, 12);
    expect(r.confidence).toBeCloseTo(2 * p - 1, 12);
    expect(r.scores).toEqual([5, 3]);
    expect((await j.compare({ first: img(3), second: img(5) })).preference).toBe('second');
    const t = await functionJudge(score, { tieTolerance: 0.5 }).compare({ first: img(4), second: img(4) });
    expect(t).toMatchObject({ preference: 'tie', p: 0.5, confidence: 0 });
  });
  it('rejects non-finite scores and bad options', async () => {
    await expect(functionJudge(() => NaN).compare({ first: img(1), second: img(2) })).rejects.toThrow(/non-finite/);
    expect(() => functionJudge(score, { temperature: 0 })).toThrow(/temperature/);
  });
});

describe('probabilities and order reconciliation', () => {
  it('maps preference and confidence to p', () => {
    expect(preferenceProbability({ preference: 'first', confidence: 0.6, rationale: '' })).toBeCloseTo(0.8);
    expect(preferenceProbability({ preference: 'second', confidence: 0.6, rationale: '' })).toBeCloseTo(0.2);
    expect(preferenceProbability({ preference: 'tie', confidence: 0.9, rationale: '' })).toBe(0.5);
  });
  it('keeps a consistent verdict and cancels a slot bias', () => {
    const first = (c: number): Judgement => ({ preference: 'first', confidence: c, rationale: 'x' });
    const second = (c: number): Judgement => ({ preference: 'second', confidence: c, rationale: 'y' });
    // A truly better first item: first in the shown order, second when swapped.
    const ok = reconcileOrders(first(0.8), second(0.4));
    expect(ok).toMatchObject({ preference: 'first', positionConsistent: true });
    expect(ok.p).toBeCloseTo((0.9 + 0.7) / 2, 12);
    // Always picks slot one: cancels to a tie.
    expect(reconcileOrders(first(0.8), first(0.8))).toMatchObject({ preference: 'tie', p: 0.5, positionConsistent: false });
  });
  it('bothOrdersJudge asks swapped media', async () => {
    const seen: number[][] = [];
    const inner: Judge = {
      id: 'rec',
      async compare(r) {
        seen.push([score(r.first), score(r.second)]);
        return { preference: score(r.first) > score(r.second) ? 'first' : 'second', confidence: 1, rationale: '' };
      },
    };
    const r = await bothOrdersJudge(inner).compare({ first: img(2), second: img(9) });
    expect(seen).toEqual([
      [2, 9],
      [9, 2],
    ]);
    expect(r).toMatchObject({ preference: 'second', p: 0, positionConsistent: true });
  });
});

describe('panelJudge', () => {
  const fixed = (id: string, preference: Judgement['preference'], confidence: number): Judge => ({
    id,
    compare: async () => ({ preference, confidence, rationale: id }),
  });
  const failing: Judge = { id: 'bad', compare: async () => Promise.reject(new Error('down')) };
  it('takes the majority with an agreement figure, ignoring failed judges', async () => {
    const panel = panelJudge([fixed('a', 'first', 1), fixed('b', 'first', 0.2), fixed('c', 'second', 1), failing]);
    const r = await panel.compare({ first: img(1), second: img(2) });
    expect(r.preference).toBe('first');
    expect(r.agreement).toBeCloseTo(2 / 3, 12);
    expect(r.confidence).toBeCloseTo(2 / 3, 12);
    expect(r.p).toBeCloseTo((1 + 0.6 + 0) / 3, 12);
  });
  it('calls a tie on a split vote, and means probabilities in mean mode', async () => {
    const split = await panelJudge([fixed('a', 'first', 1), fixed('b', 'second', 1)]).compare({ first: img(1), second: img(2) });
    expect(split.preference).toBe('tie');
    const mean = await panelJudge([fixed('a', 'first', 1), fixed('b', 'second', 0.5)], { votes: 'mean' }).compare({ first: img(1), second: img(2) });
    expect(mean.p).toBeCloseTo((1 + 0.25) / 2, 12);
    expect(mean.preference).toBe('first');
    expect(mean.confidence).toBeCloseTo(0.25, 12);
    expect(mean.agreement).toBe(0.5);
  });
  it('fails only when every judge fails', async () => {
    await expect(panelJudge([failing]).compare({ first: img(1), second: img(2) })).rejects.toThrow(/Every judge .* failed: bad: down/);
    expect(() => panelJudge([])).toThrow(/at least one judge/);
    expect(() => aggregateJudgements([])).toThrow(/zero judgements/);
  });
});
