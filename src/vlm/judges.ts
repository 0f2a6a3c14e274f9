/**
 * Programmatic and composite judges: {@link functionJudge} (a reward function),
 * {@link panelJudge} (several judges voting) and {@link bothOrdersJudge} (position-bias
 * control by asking in both orders), plus the probability conventions they share.
 * @module
 */
import { ConfigError, PrefkitError, VlmError } from '../errors.js';
import type { Judge, JudgeMedia, JudgeRequest, Judgement, Preference } from './types.js';

/**
 * The probability that the first item is preferred, implied by a judgement: `j.p` when set,
 * else `0.5 + c/2` for `first`, `0.5 - c/2` for `second` and `0.5` for `tie` (c = confidence).
 * @param j - a judgement.
 * @returns p in [0, 1].
 */
export function preferenceProbability(j: Judgement): number {
  if (j.p !== undefined && Number.isFinite(j.p)) return Math.min(1, Math.max(0, j.p));
  const c = Math.min(1, Math.max(0, j.confidence));
  switch (j.preference) {
    case 'first':
      return 0.5 + c / 2;
    case 'second':
      return 0.5 - c / 2;
    case 'tie':
      return 0.5;
    default: {
      const never: never = j.preference;
      throw new VlmError(`Unknown preference ${JSON.stringify(never)}; expected first, second or tie.`, { code: 'VLM_REPLY_INVALID' });
    }
  }
}

/**
 * The preference implied by a probability p that the first is preferred.
 * @param p - in [0, 1].
 * @param tieMargin - |p - 0.5| at or below this is a tie. Default 0.
 */
export function preferenceFromProbability(p: number, tieMargin = 0): Preference {
  if (Math.abs(p - 0.5) <= tieMargin) return 'tie';
  return p > 0.5 ? 'first' : 'second';
}

/** Swap first and second in a preference. */
export function flipPreference(p: Preference): Preference {
  return p === 'first' ? 'second' : p === 'second' ? 'first' : 'tie';
}

/** A judgement with first and second swapped. */
export function flipJudgement(j: Judgement): Judgement {
  return {
    ...j,
    preference: flipPreference(j.preference),
    ...(j.scores ? { scores: [j.scores[1], j.scores[0]] as [number, number] } : {}),
    ...(j.p !== undefined ? { p: 1 - j.p } : {}),
  };
}

/**
 * Reconcile an answer in the presented order with one asked in swapped order: the soft label
 * is the mean of the two probabilities (so a judge that always picks the same slot gives 0.5,
 * a tie); the direction must agree for the result to be decisive.
 * @param ab - the answer for (first, second).
 * @param ba - the answer for (second, first), as the judge gave it (not yet flipped).
 * @returns the reconciled judgement with `positionConsistent`.
 */
export function reconcileOrders(ab: Judgement, ba: Judgement): Judgement {
  const back = flipJudgement(ba);
  const p = (preferenceProbability(ab) + preferenceProbability(back)) / 2;
  const consistent = ab.preference === back.preference;
  const preference = preferenceFromProbability(p);
  return {
    preference,
    confidence: Math.abs(2 * p - 1),
    p,
    rationale: `[as shown] ${ab.rationale}\n[swapped order] ${ba.rationale}`,
    positionConsistent: consistent,
    cached: Boolean(ab.cached && ba.cached),
    ...(ab.scores && back.scores ? { scores: [(ab.scores[0] + back.scores[0]) / 2, (ab.scores[1] + back.scores[1]) / 2] as [number, number] } : {}),
  };
}

/**
 * Wrap a judge so each comparison is asked in both orders and reconciled with
 * {@link reconcileOrders}, cancelling a bias towards the first or second slot.
 * @param judge - the judge to ask.
 * @returns a judge whose id ends in `+both-orders`.
 */
export function bothOrdersJudge(judge: Judge): Judge {
  return {
    id: `${judge.id}+both-orders`,
    async compare(request, options) {
      const swapped: JudgeRequest = { ...request, first: request.second, second: request.first };
      const [ab, ba] = await Promise.all([judge.compare(request, options), judge.compare(swapped, options)]);
      return reconcileOrders(ab, ba);
    },
  };
}

/** Options of {@link functionJudge}. */
export interface FunctionJudgeOptions {
  /** Judge id used in cache keys and reports. Default `function:<score.name>`. */
  id?: string;
  /** Score differences at or below this are ties. Default 0. */
  tieTolerance?: number;
  /** Temperature of the soft label p = σ((s₁ - s₂) / temperature). Default 1. */
  temperature?: number;
}

/**
 * A judge from a programmatic reward: higher score wins. The soft label is
 * p = σ((score(first) − score(second)) / temperature), the Bradley–Terry probability SmPO
 * uses as a smoothed preference, and confidence is |2p − 1|.
 * @param score - a reward for one piece of media (may be async).
 * @param options - see {@link FunctionJudgeOptions}.
 * @returns a {@link Judge}.
 * @throws {ConfigError} when temperature or tolerance is not a finite positive / non-negative number.
 * @example
 * const judge = functionJudge(async (m) => brightness(m), { id: 'brightness@1' });
 */
export function functionJudge(
  score: (media: JudgeMedia, request: JudgeRequest) => number | Promise<number>,
  options: FunctionJudgeOptions = {},
): Judge {
  const temperature = options.temperature ?? 1;
  const tol = options.tieTolerance ?? 0;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new ConfigError(`functionJudge temperature must be a finite number > 0; got ${temperature}.`, { source: 'functionJudge options' });
  }
  if (!(tol >= 0) || !Number.isFinite(tol)) {
    throw new ConfigError(`functionJudge tieTolerance must be a finite number >= 0; got ${tol}.`, { source: 'functionJudge options' });
  }
  const id = options.id ?? `function:${score.name || 'anonymous'}`;
  return {
    id,
    async compare(request) {
      const [a, b] = await Promise.all([score(request.first, request), score(request.second, request)]);
      if (!Number.isFinite(a) || !Number.isFinite(b)) {
        throw new PrefkitError('NON_FINITE', `functionJudge ${id} returned non-finite scores [${a}, ${b}]; the score function must return finite numbers.`);
      }
      const d = a - b;
      const p = 1 / (1 + Math.exp(-d / temperature));
      const preference: Preference = Math.abs(d) <= tol ? 'tie' : d > 0 ? 'first' : 'second';
      return {
        preference,
        confidence: preference === 'tie' ? 0 : Math.abs(2 * p - 1),
        p: preference === 'tie' ? 0.5 : p,
        rationale: `score(first) = ${a.toPrecision(6)}, score(second) = ${b.toPrecision(6)}`,
        scores: [a, b],
      };
    },
  };
}

/** Options of {@link panelJudge}. */
export interface PanelOptions {
  /** `majority`: plurality of preferences (a top-count draw is a tie); `mean`: mean soft label. Default `majority`. */
  votes?: 'majority' | 'mean';
  /** For `mean`: |p − 0.5| at or below this is a tie. Default 0. */
  tieMargin?: number;
  /** Panel id. Default `panel(<ids>)`. */
  id?: string;
}

/**
 * Combine several judgements of the same comparison.
 * - `majority`: the preference with most votes wins (a draw between the top counts is a tie);
 *   confidence = share of votes for the winner.
 * - `mean`: p = mean of the judges' probabilities; preference from p; confidence = |2p − 1|.
 * In both, `p` is the mean probability and `agreement` the share of judges whose vote equals
 * the outcome.
 * @param judgements - one per judge (at least one).
 * @param votes - the rule.
 * @param tieMargin - for `mean`.
 * @param ids - judge ids, to label rationales.
 */
export function aggregateJudgements(judgements: readonly Judgement[], votes: 'majority' | 'mean' = 'majority', tieMargin = 0, ids?: readonly string[]): Judgement {
  if (judgements.length === 0) throw new VlmError('Cannot aggregate zero judgements: every judge of the panel failed.');
  const p = judgements.reduce((s, j) => s + preferenceProbability(j), 0) / judgements.length;
  let preference: Preference;
  let confidence: number;
  if (votes === 'majority') {
    const counts: Record<Preference, number> = { first: 0, second: 0, tie: 0 };
    for (const j of judgements) counts[j.preference]++;
    const sorted = (Object.keys(counts) as Preference[]).sort((x, y) => counts[y] - counts[x]);
    preference = counts[sorted[0]!] === counts[sorted[1]!] ? 'tie' : sorted[0]!;
    confidence = counts[sorted[0]!] / judgements.length;
  } else if (votes === 'mean') {
    preference = preferenceFromProbability(p, tieMargin);
    confidence = Math.abs(2 * p - 1);
  } else {
    const never: never = votes;
    throw new ConfigError(`Unknown votes rule ${JSON.stringify(never)}; expected 'majority' or 'mean'.`);
  }
  const agreement = judgements.filter((j) => j.preference === preference).length / judgements.length;
  return {
    preference,
    confidence,
    p,
    agreement,
    rationale: judgements.map((j, i) => `[${ids?.[i] ?? i}] ${j.preference}: ${j.rationale}`).join('\n'),
    cached: judgements.every((j) => j.cached),
  };
}

/**
 * A judge that asks several judges and aggregates their votes with {@link aggregateJudgements}.
 * Judges that fail are left out of the vote; the panel fails only when all fail.
 * @param judges - at least one judge.
 * @param options - see {@link PanelOptions}.
 * @returns a {@link Judge}; its judgements carry `agreement`.
 * @throws {ConfigError} when `judges` is empty.
 */
export function panelJudge(judges: readonly Judge[], options: PanelOptions = {}): Judge {
  if (judges.length === 0) throw new ConfigError('panelJudge needs at least one judge; got an empty list.', { source: 'panelJudge' });
  const votes = options.votes ?? 'majority';
  if (votes !== 'majority' && votes !== 'mean') {
    throw new ConfigError(`Unknown votes rule ${JSON.stringify(votes)}; expected 'majority' or 'mean'.`, { source: 'panelJudge options' });
  }
  const id = options.id ?? `panel(${judges.map((j) => j.id).join(',')};${votes})`;
  return {
    id,
    async compare(request, opts) {
      const settled = await Promise.allSettled(judges.map((j) => j.compare(request, opts)));
      if (opts?.signal?.aborted) {
        const r = settled.find((s) => s.status === 'rejected');
        if (r) throw (r as PromiseRejectedResult).reason;
      }
      const ok: Judgement[] = [];
      const okIds: string[] = [];
      const errors: string[] = [];
      settled.forEach((s, i) => {
        if (s.status === 'fulfilled') {
          ok.push(s.value);
          okIds.push(judges[i]!.id);
        } else errors.push(`${judges[i]!.id}: ${(s.reason as Error)?.message ?? String(s.reason)}`);
      });
      if (ok.length === 0) throw new VlmError(`Every judge of ${id} failed: ${errors.join(' | ')}`);
      return aggregateJudgements(ok, votes, options.tieMargin ?? 0, okIds);
    },
  };
}
