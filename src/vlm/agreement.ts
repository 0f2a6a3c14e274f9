/**
 * Agreement of judge labels with human labels: accuracy and Cohen's kappa over the three
 * categories first / second / tie.
 * @module
 */
import { ConfigError } from '../errors.js';
import type { Preference } from './types.js';

/** A label: a preference, or a number in [0, 1] (1 = first/chosen preferred, 0.5 = tie). */
export type LabelValue = Preference | number;

/** Result of {@link agreement}. */
export interface AgreementResult {
  /** Items compared (both labels present). */
  n: number;
  /** Fraction of items with the same category. NaN when n = 0. */
  accuracy: number;
  /**
   * Cohen's kappa κ = (p_o − p_e) / (1 − p_e). NaN when n = 0 or p_e = 1 (both raters
   * used one and the same category only, where κ is undefined).
   */
  kappa: number;
  /** Confusion counts, `confusion[predicted][human]`, rows and columns in {@link AGREEMENT_CATEGORIES} order. */
  confusion: number[][];
}

/** Category order used by {@link AgreementResult.confusion}. */
export const AGREEMENT_CATEGORIES: readonly Preference[] = ['first', 'second', 'tie'];

/**
 * The category of a label: numbers above 0.5 are `first`, below are `second`, exactly 0.5 is `tie`.
 * @throws {ConfigError} for numbers outside [0, 1] or unknown strings.
 */
export function labelCategory(v: LabelValue): Preference {
  if (typeof v === 'number') {
    if (!(v >= 0 && v <= 1)) throw new ConfigError(`Label ${v} is outside [0, 1]; labels are 1 (first/chosen preferred), 0 (second), 0.5 (tie) or soft values between.`);
    return v > 0.5 ? 'first' : v < 0.5 ? 'second' : 'tie';
  }
  if (v === 'first' || v === 'second' || v === 'tie') return v;
  throw new ConfigError(`Unknown label ${JSON.stringify(v)}; expected 'first', 'second', 'tie' or a number in [0, 1].`);
}

/**
 * Accuracy and Cohen's kappa of `predicted` against `human`, over items where both are present.
 * @param predicted - judge labels (undefined/null for failed items).
 * @param human - human labels (undefined/null where there is none).
 * @returns counts, accuracy, kappa and the confusion matrix.
 * @throws {ConfigError} when the arrays differ in length or hold invalid labels.
 * @see Cohen (1960), "A coefficient of agreement for nominal scales".
 * @example
 * agreement(['first', 'second'], [1, 0]).accuracy; // 1
 */
export function agreement(predicted: readonly (LabelValue | null | undefined)[], human: readonly (LabelValue | null | undefined)[]): AgreementResult {
  if (predicted.length !== human.length) {
    throw new ConfigError(`agreement needs arrays of equal length; got ${predicted.length} predicted and ${human.length} human labels.`);
  }
  const idx = (p: Preference) => AGREEMENT_CATEGORIES.indexOf(p);
  const confusion = AGREEMENT_CATEGORIES.map(() => AGREEMENT_CATEGORIES.map(() => 0));
  let n = 0;
  for (let i = 0; i < predicted.length; i++) {
    const a = predicted[i];
    const b = human[i];
    if (a === undefined || a === null || b === undefined || b === null) continue;
    confusion[idx(labelCategory(a))]![idx(labelCategory(b))]!++;
    n++;
  }
  if (n === 0) return { n, accuracy: NaN, kappa: NaN, confusion };
  const k = AGREEMENT_CATEGORIES.length;
  let po = 0;
  let pe = 0;
  for (let c = 0; c < k; c++) {
    po += confusion[c]![c]!;
    const row = confusion[c]!.reduce((s, x) => s + x, 0);
    const col = confusion.reduce((s, r) => s + r[c]!, 0);
    pe += (row / n) * (col / n);
  }
  po /= n;
  const kappa = 1 - pe <= 1e-12 ? NaN : (po - pe) / (1 - pe);
  return { n, accuracy: po, kappa, confusion };
}
