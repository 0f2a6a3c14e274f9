/**
 * Pick-a-Pic v2 records (yuvalkirstain/pickapic_v2) mapped onto {@link PreferencePair}s.
 *
 * Columns used: `caption`, `jpg_0`, `jpg_1` (encoded image bytes), `label_0`, `label_1`
 * (`label_0` ∈ {0, 0.5, 1}, 0.5 a tie, `label_1 = 1 − label_0`), `has_label`, `are_different`,
 * and, when present, DCPO's Pick-Double Caption `caption_0`/`caption_1` and `ranking_id`.
 * Parquet shards are read with hyparquet (pure JS).
 * @module
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet';
import { ConfigError } from '../errors.js';
import type { PairManifest, PreferencePair, SkippedRecord } from './manifest.js';

/** Image bytes as stored by `datasets`: raw bytes, or an Image feature struct `{ bytes, path }`. */
export type PickAPicImage = Uint8Array | { bytes: Uint8Array | null; path?: string | null };

/** One Pick-a-Pic v2 row (other columns are ignored). */
export interface PickAPicRecord {
  caption: string | Uint8Array;
  jpg_0: PickAPicImage;
  jpg_1: PickAPicImage;
  /** 1: image 0 preferred, 0: image 1 preferred, 0.5: tie. */
  label_0: number;
  label_1?: number;
  has_label?: boolean | number;
  are_different?: boolean | number;
  /** Pick-Double Caption (DCPO): caption of image 0. */
  caption_0?: string | Uint8Array | null;
  /** Pick-Double Caption (DCPO): caption of image 1. */
  caption_1?: string | Uint8Array | null;
  ranking_id?: number | bigint | string;
  [column: string]: unknown;
}

/** Options of {@link fromPickAPic}. */
export interface PickAPicOptions {
  /** `'keep'` (default): ties become label 0.5; `'drop'`: skip them (as the official Diffusion-DPO code does). */
  ties?: 'keep' | 'drop';
  /** Keep pairs with `are_different` false (two identical images). Default false. */
  keepIdentical?: boolean;
  /** Used in `origin` of each record, e.g. the shard file name. */
  source?: string;
  /** Row number of `records[0]` in the source, for the report. Default 0. */
  rowOffset?: number;
}

const decoder = new TextDecoder();
const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : v instanceof Uint8Array ? decoder.decode(v) : undefined);

function bytesOf(v: unknown): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v.byteLength > 0 ? v : undefined;
  if (v && typeof v === 'object' && 'bytes' in v) return bytesOf((v as { bytes: unknown }).bytes);
  return undefined;
}

const truthy = (v: unknown, dflt: boolean): boolean => (v === undefined || v === null ? dflt : Boolean(typeof v === 'bigint' ? Number(v) : v));

/**
 * Map Pick-a-Pic v2 rows to preference pairs: the image with the higher `label_*` becomes
 * `chosen`, with `label = max(label_0, label_1)`; a tie keeps image 0 as `chosen` and label 0.5.
 * Rows without a label (`has_label` false), with identical images (`are_different` false),
 * or with missing bytes are skipped and reported.
 *
 * @param records - Pick-a-Pic rows (from {@link readPickAPicParquet} or any reader).
 * @param options - ties, keepIdentical, source, rowOffset ({@link PickAPicOptions}).
 * @returns `{ records, skipped }` with images as bytes.
 * @throws {ConfigError} for invalid options.
 * @example
 * const { records } = fromPickAPic(rows, { ties: 'drop' });
 */
export function fromPickAPic(records: readonly PickAPicRecord[], options: PickAPicOptions = {}): PairManifest {
  const ties = options.ties ?? 'keep';
  if (ties !== 'keep' && ties !== 'drop') throw new ConfigError(`fromPickAPic: ties must be 'keep' or 'drop', got ${JSON.stringify(ties)}.`);
  const offset = options.rowOffset ?? 0;
  const out: PreferencePair[] = [];
  const skipped: SkippedRecord[] = [];
  records.forEach((r, i) => {
    const row = offset + i;
    const skip = (field: string, message: string) => skipped.push({ line: row, field, message });
    if (!truthy(r.has_label, true)) return skip('has_label', 'no human label (has_label is false)');
    if (!options.keepIdentical && !truthy(r.are_different, true)) return skip('are_different', 'the two images are identical (are_different is false)');
    const l0 = Number(r.label_0);
    const l1 = r.label_1 === undefined || r.label_1 === null ? 1 - l0 : Number(r.label_1);
    if (!(l0 >= 0 && l0 <= 1) || !(l1 >= 0 && l1 <= 1) || Math.abs(l0 + l1 - 1) > 1e-6) {
      return skip('label_0', `labels must be in [0, 1] and sum to 1, got label_0=${r.label_0}, label_1=${r.label_1}`);
    }
    if (l0 === 0.5 && ties === 'drop') return skip('label_0', 'tie (label_0 = 0.5) dropped (ties: drop)');
    const caption = text(r.caption);
    if (caption === undefined) return skip('caption', `caption must be a string, got ${typeof r.caption}`);
    const img0 = bytesOf(r.jpg_0);
    const img1 = bytesOf(r.jpg_1);
    if (!img0) return skip('jpg_0', 'missing image bytes');
    if (!img1) return skip('jpg_1', 'missing image bytes');
    const firstWins = l0 >= l1;
    const rec: PreferencePair = {
      prompt: caption,
      chosen: firstWins ? img0 : img1,
      rejected: firstWins ? img1 : img0,
      label: firstWins ? l0 : l1,
      origin: `${options.source ?? 'pickapic'}#row ${row}`,
    };
    const c0 = text(r.caption_0);
    const c1 = text(r.caption_1);
    if (c0 !== undefined && c1 !== undefined) {
      rec.captionChosen = firstWins ? c0 : c1;
      rec.captionRejected = firstWins ? c1 : c0;
    }
    if (r.ranking_id !== undefined && r.ranking_id !== null) rec.id = String(r.ranking_id);
    out.push(rec);
  });
  return { path: options.source, records: out, skipped };
}

const COLUMNS = ['caption', 'jpg_0', 'jpg_1', 'label_0', 'label_1', 'has_label', 'are_different', 'caption_0', 'caption_1', 'ranking_id'];

/**
 * Read a Pick-a-Pic v2 parquet shard (or a row range of it) into preference pairs.
 *
 * @param path - the `.parquet` file.
 * @param options - {@link PickAPicOptions} plus `rowStart`/`rowEnd` (end exclusive) to read part of a shard.
 * @returns `{ path, records, skipped }`; images are kept as JPEG bytes.
 * @throws {ConfigError} when the file cannot be read or lacks a required column.
 * @example
 * const pairs = await readPickAPicParquet('train-00000-of-00645.parquet', { rowEnd: 1000, ties: 'drop' });
 */
export async function readPickAPicParquet(path: string, options: PickAPicOptions & { rowStart?: number; rowEnd?: number } = {}): Promise<PairManifest> {
  let rows: Record<string, unknown>[];
  try {
    const file = await asyncBufferFromFile(path);
    const metadata = await parquetMetadataAsync(file);
    const names = parquetSchema(metadata).children.map((c) => c.element.name);
    const missing = ['caption', 'jpg_0', 'jpg_1', 'label_0'].filter((c) => !names.includes(c));
    if (missing.length) {
      throw new ConfigError(`Pick-a-Pic shard ${path} lacks column(s) ${missing.join(', ')}; it has: ${names.join(', ')}.`, { source: path });
    }
    rows = await parquetReadObjects({
      file,
      metadata,
      columns: COLUMNS.filter((c) => names.includes(c)),
      rowStart: options.rowStart,
      rowEnd: options.rowEnd,
      utf8: false, // jpg_* are unannotated BYTE_ARRAYs: keep them as bytes
    });
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`Cannot read Pick-a-Pic parquet ${path}: ${(e as Error).message}`, { source: path, cause: e });
  }
  return fromPickAPic(rows as PickAPicRecord[], { ...options, source: options.source ?? path, rowOffset: options.rowStart ?? 0 });
}
