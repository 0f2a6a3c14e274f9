/**
 * Rule-based caption perturbation for DCPO's "-p" and "-h" variants: the rejected image is
 * conditioned on a caption that no longer quite describes it.
 *
 * The paper perturbs with an LLM paraphraser (DIPPER, lexical diversity 40/60/80 for
 * weak/medium/strong); this module gives a deterministic, offline stand-in with the same
 * intent: change the meaning in a controlled place (colour, count, spatial relation,
 * attribute) rather than only the wording. Model-backed captioning lives with the VLM helpers.
 * @see https://arxiv.org/abs/2502.06023 (DCPO, §3.2 "caption perturbation")
 * @module
 */
import { ConfigError } from '../errors.js';
import type { Rng } from '../core/random.js';
import type { PreferencePair } from './manifest.js';

/** Perturbation strategies of {@link perturbCaption}. */
export type PerturbStrategy = 'color' | 'count' | 'spatial' | 'antonym' | 'drop' | 'shuffle' | 'auto';

/** All strategies, in a stable order. */
export const perturbStrategies: readonly PerturbStrategy[] = ['auto', 'color', 'count', 'spatial', 'antonym', 'drop', 'shuffle'];

/** Options of {@link perturbCaption}. */
export interface PerturbOptions {
  /**
   * - `color`: replace colour words with other colours;
   * - `count`: replace numbers (digits or one … twelve) with other numbers;
   * - `spatial`: swap relations (left ↔ right, above ↔ below, in front of ↔ behind, …);
   * - `antonym`: swap attributes for their opposites (big ↔ small, day ↔ night, …);
   * - `drop`: delete content words;
   * - `shuffle`: shuffle the word order;
   * - `auto` (default): one of color/count/spatial/antonym that applies, chosen with `rng`,
   *   else `drop`.
   * An explicit semantic strategy that finds nothing to change falls back to `drop`, then `shuffle`.
   */
  strategy?: PerturbStrategy;
  /** Random stream (required): which words change and into what. */
  rng: Rng;
  /** How much changes: `weak` one edit, `medium` (default) two, `strong` every match. Drop rates 0.2/0.35/0.5. */
  strength?: 'weak' | 'medium' | 'strong';
}

const COLORS = ['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'gray', 'grey', 'gold', 'silver', 'cyan', 'magenta', 'violet', 'beige', 'turquoise', 'teal'];
const NUMBER_WORDS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'eleven', 'twelve'];
const SPATIAL: [string, string][] = [
  ['in front of', 'behind'],
  ['on top of', 'underneath'],
  ['to the left of', 'to the right of'],
  ['left', 'right'],
  ['above', 'below'],
  ['over', 'under'],
  ['top', 'bottom'],
  ['inside', 'outside'],
  ['near', 'far from'],
  ['before', 'after'],
  ['up', 'down'],
];
const ANTONYMS: [string, string][] = [
  ['big', 'small'],
  ['large', 'tiny'],
  ['tall', 'short'],
  ['long', 'short'],
  ['old', 'young'],
  ['new', 'old'],
  ['hot', 'cold'],
  ['day', 'night'],
  ['daytime', 'nighttime'],
  ['happy', 'sad'],
  ['smiling', 'frowning'],
  ['open', 'closed'],
  ['full', 'empty'],
  ['light', 'dark'],
  ['bright', 'dim'],
  ['wet', 'dry'],
  ['fast', 'slow'],
  ['sunny', 'rainy'],
  ['summer', 'winter'],
  ['clean', 'dirty'],
  ['thick', 'thin'],
  ['heavy', 'light'],
  ['sitting', 'standing'],
  ['wide', 'narrow'],
  ['soft', 'hard'],
  ['modern', 'ancient'],
  ['calm', 'stormy'],
  ['man', 'woman'],
  ['boy', 'girl'],
  ['cat', 'dog'],
  ['with', 'without'],
];
const STOP = new Set(
  'a an the of and or in on at to with by for from is are was were be this that these those it its his her their there here as into onto over under very some'.split(' '),
);

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function keepCase(original: string, replacement: string): string {
  if (original === original.toUpperCase() && original.length > 1) return replacement.toUpperCase();
  if (original[0] === original[0].toUpperCase() && original[0] !== original[0].toLowerCase()) return replacement[0].toUpperCase() + replacement.slice(1);
  return replacement;
}

/** word/phrase (lower case) → possible replacements */
function table(strategy: 'color' | 'count' | 'spatial' | 'antonym'): Map<string, string[]> {
  const m = new Map<string, string[]>();
  const add = (k: string, v: string) => {
    const l = m.get(k) ?? [];
    if (!l.includes(v) && v !== k) l.push(v);
    m.set(k, l);
  };
  switch (strategy) {
    case 'color':
      for (const c of COLORS) for (const d of COLORS) if (!(c.startsWith('gr') && d.startsWith('gr') && c.endsWith('y') && d.endsWith('y'))) add(c, d);
      break;
    case 'count':
      for (const a of NUMBER_WORDS) for (const b of NUMBER_WORDS) add(a, b);
      break;
    case 'spatial':
      for (const [a, b] of SPATIAL) {
        add(a, b);
        add(b, a);
      }
      break;
    case 'antonym':
      for (const [a, b] of ANTONYMS) {
        add(a, b);
        add(b, a);
      }
      break;
    default: {
      const never: never = strategy;
      throw new ConfigError(`Unknown table ${String(never)}.`);
    }
  }
  return m;
}

interface Match {
  index: number;
  text: string;
}

function findMatches(caption: string, strategy: 'color' | 'count' | 'spatial' | 'antonym'): { matches: Match[]; tbl: Map<string, string[]> } {
  const tbl = table(strategy);
  const keys = [...tbl.keys()].sort((a, b) => b.length - a.length); // longest phrase first
  const parts = keys.map(escapeRe);
  if (strategy === 'count') parts.unshift('\\d+');
  const re = new RegExp(`\\b(?:${parts.join('|')})\\b`, 'gi');
  const matches: Match[] = [];
  for (const m of caption.matchAll(re)) matches.push({ index: m.index!, text: m[0] });
  return { matches, tbl };
}

function editCount(strength: 'weak' | 'medium' | 'strong', available: number): number {
  return strength === 'weak' ? 1 : strength === 'medium' ? Math.min(2, available) : available;
}

function replaceSemantic(caption: string, strategy: 'color' | 'count' | 'spatial' | 'antonym', rng: Rng, strength: 'weak' | 'medium' | 'strong'): string | null {
  const { matches, tbl } = findMatches(caption, strategy);
  if (matches.length === 0) return null;
  const k = editCount(strength, matches.length);
  const chosen = rng.shuffle(matches.map((_, i) => i)).slice(0, k).sort((a, b) => b - a); // edit right to left
  let out = caption;
  for (const i of chosen) {
    const m = matches[i];
    let rep: string;
    if (/^\d+$/.test(m.text)) {
      const v = parseInt(m.text, 10);
      let w = v;
      while (w === v) w = rng.int(Math.max(0, v - 3), v + 4);
      rep = String(w);
    } else {
      const opts = tbl.get(m.text.toLowerCase())!;
      rep = keepCase(m.text, opts[rng.int(0, opts.length)]);
    }
    out = out.slice(0, m.index) + rep + out.slice(m.index + m.text.length);
  }
  return out;
}

function drop(caption: string, rng: Rng, strength: 'weak' | 'medium' | 'strong'): string | null {
  const words = caption.split(/\s+/).filter(Boolean);
  const content = words.map((w, i) => (STOP.has(w.toLowerCase().replace(/[^\w'-]/g, '')) ? -1 : i)).filter((i) => i >= 0);
  if (words.length < 2 || content.length === 0) return null;
  const rate = strength === 'weak' ? 0.2 : strength === 'medium' ? 0.35 : 0.5;
  const k = Math.min(content.length, words.length - 1, Math.max(1, Math.round(rate * content.length)));
  const gone = new Set(rng.shuffle(content).slice(0, k));
  return words.filter((_, i) => !gone.has(i)).join(' ');
}

function shuffleWords(caption: string, rng: Rng): string | null {
  const words = caption.split(/\s+/).filter(Boolean);
  if (new Set(words.map((w) => w.toLowerCase())).size < 2) return null;
  for (let t = 0; t < 8; t++) {
    const s = rng.shuffle(words).join(' ');
    if (s !== words.join(' ')) return s;
  }
  return [...words].reverse().join(' ');
}

/**
 * Perturb a caption so that it no longer matches its image exactly (DCPO-p / DCPO-h).
 *
 * Deterministic given the `rng` state. The result differs from the input whenever the
 * caption has at least two distinct words (a one-word caption becomes `"no <word>"`).
 *
 * @param caption - the caption to perturb.
 * @param options - strategy (default `'auto'`), rng (required), strength (default `'medium'`).
 * @returns the perturbed caption.
 * @throws {ConfigError} for an unknown strategy or strength, or a missing rng.
 * @see https://arxiv.org/abs/2502.06023 DCPO, caption perturbation
 * @example
 * perturbCaption('a red cube to the left of two blue balls', { strategy: 'color', rng: createRng(0), strength: 'weak' });
 * // e.g. 'a red cube to the left of two green balls'
 */
export function perturbCaption(caption: string, options: PerturbOptions): string {
  const strategy = options.strategy ?? 'auto';
  const strength = options.strength ?? 'medium';
  const { rng } = options;
  if (!rng || typeof rng.uniform !== 'function') throw new ConfigError('perturbCaption: options.rng is required (createRng(seed)).');
  if (!perturbStrategies.includes(strategy)) {
    throw new ConfigError(`Unknown caption perturbation strategy "${String(strategy)}". Expected one of: ${perturbStrategies.join(', ')}.`);
  }
  if (!['weak', 'medium', 'strong'].includes(strength)) {
    throw new ConfigError(`perturbCaption: strength must be 'weak', 'medium' or 'strong', got ${JSON.stringify(strength)}.`);
  }
  const semantic = ['color', 'count', 'spatial', 'antonym'] as const;
  let out: string | null = null;
  switch (strategy) {
    case 'auto': {
      const applicable = semantic.filter((s) => findMatches(caption, s).matches.length > 0);
      if (applicable.length) out = replaceSemantic(caption, applicable[rng.int(0, applicable.length)], rng, strength);
      break;
    }
    case 'color':
    case 'count':
    case 'spatial':
    case 'antonym':
      out = replaceSemantic(caption, strategy, rng, strength);
      break;
    case 'drop':
    case 'shuffle':
      break;
    default: {
      const never: never = strategy;
      throw new ConfigError(`Unknown caption perturbation strategy "${String(never)}".`);
    }
  }
  if (out === null && strategy !== 'shuffle') out = drop(caption, rng, strength);
  if (out === null || out === caption) out = shuffleWords(caption, rng);
  if (out === null || out === caption) out = caption.trim() ? `no ${caption.trim()}` : caption;
  return out;
}

/**
 * DCPO captions for a list of pairs: `captionChosen` stays (or becomes the prompt) and
 * `captionRejected` is perturbed. Without captions this is DCPO-p (z_w = c, z_l = perturbed c);
 * with captions from a captioner it is DCPO-h (z_l = perturbed caption of the rejected image).
 * Pair i uses `rng.split(i)`, so its caption depends on its index only, not on the other pairs.
 *
 * @param records - the pairs (not modified).
 * @param options - strategy, rng, strength as for {@link perturbCaption}.
 * @returns new records with `captionChosen` and `captionRejected` set.
 * @throws {ConfigError} as {@link perturbCaption}.
 * @see https://arxiv.org/abs/2502.06023 DCPO-p and DCPO-h
 * @example
 * const dcpo = perturbRejectedCaptions(manifest.records, { rng: createRng(0), strategy: 'auto' });
 */
export function perturbRejectedCaptions<T extends Pick<PreferencePair, 'prompt' | 'captionChosen' | 'captionRejected'>>(
  records: readonly T[],
  options: PerturbOptions,
): (T & { captionChosen: string; captionRejected: string })[] {
  if (!options?.rng || typeof options.rng.split !== 'function') throw new ConfigError('perturbRejectedCaptions: options.rng is required (createRng(seed)).');
  return records.map((r, i) => ({
    ...r,
    captionChosen: r.captionChosen ?? r.prompt,
    captionRejected: perturbCaption(r.captionRejected ?? r.prompt, { ...options, rng: options.rng.split(i) }),
  }));
}
