/**
 * Pair manifests: JSONL, one preference pair per line, validated with zod.
 *
 * ```jsonl
 * {"prompt": "a red cube", "chosen": "img/0a.png", "rejected": "img/0b.png"}
 * {"prompt": "a cat", "chosen": "c.jpg", "rejected": "d.jpg", "label": 0.7, "captionChosen": "a cat on a mat", "captionRejected": "a dog on a mat"}
 * {"prompt": "a wave", "chosen": "v1.mp4", "rejected": "v2.mp4", "segments": [1, -1, 0, 1]}
 * ```
 * @module
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import type { ImageSource } from '../image/load.js';

/**
 * One line of a pair manifest (shared/DESIGN.md "Data formats").
 * - `chosen`, `rejected`: a path relative to the manifest (or absolute), or an inline
 *   `data:<mime>;base64,...` URI.
 * - `label` ∈ [0, 1]: probability that `chosen` is preferred; 1 (default) is a hard label,
 *   0.5 a tie, anything else a soft label (SmPO).
 * - `captionChosen`/`captionRejected`: DCPO's per-image captions; give both or neither.
 * - `segments`: DenseDPO per-segment labels, +1 (chosen better), −1 (rejected better), 0 (tie).
 * Unknown keys are ignored (dropped).
 */
export const pairRecordSchema = z
  .object({
    prompt: z.string(),
    chosen: z.string().min(1, 'must be a non-empty path or data: URI'),
    rejected: z.string().min(1, 'must be a non-empty path or data: URI'),
    captionChosen: z.string().optional(),
    captionRejected: z.string().optional(),
    label: z.number().min(0).max(1).default(1),
    segments: z
      .array(z.union([z.literal(1), z.literal(-1), z.literal(0)], { error: 'segment labels must be 1, -1 or 0' }))
      .min(1)
      .optional(),
    id: z.string().optional(),
  })
  .superRefine((r, ctx) => {
    if ((r.captionChosen === undefined) !== (r.captionRejected === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: [r.captionChosen === undefined ? 'captionChosen' : 'captionRejected'],
        message: 'captionChosen and captionRejected go together (DCPO): give both or neither',
      });
    }
  });

/** The parsed JSON of one manifest line (paths not yet resolved). */
export type PairRecordInput = z.input<typeof pairRecordSchema>;

/** A preference pair ready to load: images as absolute paths or bytes. */
export interface PreferencePair {
  /** The prompt (conditioning shared by both images unless DCPO captions are given). */
  prompt: string;
  /** The preferred image: an absolute path or encoded bytes. */
  chosen: ImageSource;
  /** The less-preferred image. */
  rejected: ImageSource;
  /** DCPO: caption of the chosen image. */
  captionChosen?: string;
  /** DCPO: caption of the rejected image. */
  captionRejected?: string;
  /** P(chosen preferred) ∈ [0, 1]: 1 hard, 0.5 tie, otherwise soft. */
  label: number;
  /** DenseDPO: per-segment labels in {+1, −1, 0}. */
  segments?: number[];
  /** Optional id from the record. */
  id?: string;
  /** Where the record came from, e.g. `pairs.jsonl:12` or `shard.parquet#row 3`. */
  origin?: string;
}

/** A record that was skipped, and why. */
export interface SkippedRecord {
  /** 1-based line (JSONL) or 0-based row (parquet / record arrays). */
  line: number;
  /** The offending field, `(json)` for unparsable lines, or `(record)` for whole-record reasons. */
  field: string;
  /** What was wrong. */
  message: string;
}

/** A list of pairs and the report of what was skipped. */
export interface PairManifest {
  /** The file read, when there was one. */
  path?: string;
  records: PreferencePair[];
  /** Skipped lines or rows (empty with `onInvalid: 'fail'`). */
  skipped: SkippedRecord[];
}

/** Options of {@link readPairManifest}. */
export interface ReadManifestOptions {
  /** `'fail'` (default): throw on the first invalid lines; `'skip'`: drop them and report them in `skipped`. */
  onInvalid?: 'fail' | 'skip';
  /**
   * Also check that every `chosen`/`rejected` file exists and is a non-empty file (default false).
   * A missing file is then an invalid record (field `chosen` or `rejected`), failing or skipped per `onInvalid`.
   */
  checkFiles?: boolean;
}

function resolveImage(ref: string, baseDir: string): ImageSource {
  const m = /^data:[^;,]*(;base64)?,(.*)$/s.exec(ref);
  if (m) {
    if (!m[1]) throw new Error('inline images must be base64 data: URIs');
    return new Uint8Array(Buffer.from(m[2], 'base64'));
  }
  return isAbsolute(ref) ? ref : resolve(baseDir, ref);
}

/**
 * Parse manifest text (JSONL). Blank lines and lines starting with `#` are ignored.
 *
 * @param text - the JSONL content.
 * @param options - `onInvalid` and `path`, the file the text came from (for messages and
 *   relative paths; default: the current directory).
 * @returns the records and a skip report.
 * @throws {ConfigError} naming file, line and field, unless `onInvalid: 'skip'`.
 * @example
 * const m = parsePairManifest('{"prompt":"a","chosen":"a.png","rejected":"b.png"}\n', { path: '/data/pairs.jsonl' });
 * m.records[0].chosen; // '/data/a.png'
 */
export function parsePairManifest(text: string, options: ReadManifestOptions & { path?: string } = {}): PairManifest {
  const file = options.path ?? '<manifest>';
  const baseDir = options.path ? dirname(resolve(options.path)) : process.cwd();
  const mode = options.onInvalid ?? 'fail';
  if (mode !== 'fail' && mode !== 'skip') throw new ConfigError(`readPairManifest: onInvalid must be 'fail' or 'skip', got ${JSON.stringify(mode)}.`);
  const records: PreferencePair[] = [];
  const skipped: SkippedRecord[] = [];
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trim();
    if (raw === '' || raw.startsWith('#')) continue;
    const lineNo = i + 1;
    const bad: SkippedRecord[] = [];
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      bad.push({ line: lineNo, field: '(json)', message: `not valid JSON (${(e as Error).message})` });
    }
    let rec: PreferencePair | undefined;
    if (bad.length === 0) {
      const r = pairRecordSchema.safeParse(value);
      if (!r.success) {
        for (const iss of r.error.issues) bad.push({ line: lineNo, field: iss.path.length ? iss.path.join('.') : '(record)', message: iss.message });
      } else {
        const d = r.data;
        try {
          rec = {
            prompt: d.prompt,
            chosen: resolveImage(d.chosen, baseDir),
            rejected: resolveImage(d.rejected, baseDir),
            label: d.label,
            origin: `${file}:${lineNo}`,
          };
        } catch (e) {
          bad.push({ line: lineNo, field: 'chosen/rejected', message: (e as Error).message });
        }
        if (rec) {
          if (d.captionChosen !== undefined) rec.captionChosen = d.captionChosen;
          if (d.captionRejected !== undefined) rec.captionRejected = d.captionRejected;
          if (d.segments) rec.segments = [...d.segments];
          if (d.id !== undefined) rec.id = d.id;
        }
      }
    }
    if (bad.length) {
      if (mode === 'fail') {
        const list = bad.map((b) => `  - field "${b.field}": ${b.message}`).join('\n');
        throw new ConfigError(
          `Invalid pair manifest ${file}, line ${lineNo}:\n${list}\nEach line must be JSON with prompt, chosen, rejected (paths relative to the manifest), optional label in [0, 1], captionChosen + captionRejected, segments of 1/-1/0. Use onInvalid: 'skip' to drop bad lines.`,
          { source: `${file}:${lineNo}` },
        );
      }
      skipped.push(...bad);
      continue;
    }
    records.push(rec!);
  }
  return { path: options.path, records, skipped };
}

/**
 * Read a JSONL pair manifest; image paths resolve relative to the manifest's folder.
 *
 * @param path - the `.jsonl` file.
 * @param options - `onInvalid: 'fail' | 'skip'` (default `'fail'`); `checkFiles` to check that the images exist.
 * @returns `{ path, records, skipped }`; `skipped` lists `{ line, field, message }` in skip mode.
 * @throws {ConfigError} naming the file, the line and the field of an invalid record
 *   (with `'fail'`), or when the file cannot be read.
 * @example
 * const { records, skipped } = await readPairManifest('data/pairs.jsonl', { onInvalid: 'skip' });
 */
export async function readPairManifest(path: string, options: ReadManifestOptions = {}): Promise<PairManifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read pair manifest ${path}: ${(e as Error).message}`, { source: path, cause: e });
  }
  const m = parsePairManifest(text, { ...options, path });
  if (!options.checkFiles) return m;
  const kept: PreferencePair[] = [];
  for (const r of m.records) {
    const bad: SkippedRecord[] = [];
    for (const field of ['chosen', 'rejected'] as const) {
      const src = r[field];
      if (typeof src !== 'string') continue;
      const st = await stat(src).catch(() => null);
      if (!st || !st.isFile() || st.size === 0) {
        bad.push({ line: Number(r.origin!.slice(r.origin!.lastIndexOf(':') + 1)), field, message: `${st ? (st.isFile() ? 'empty file' : 'not a file') : 'no such file'}: ${src}` });
      }
    }
    if (bad.length === 0) kept.push(r);
    else if ((options.onInvalid ?? 'fail') === 'fail') {
      throw new ConfigError(
        `Invalid pair manifest ${path}, line ${bad[0].line}:\n${bad.map((b) => `  - field "${b.field}": ${b.message}`).join('\n')}\nPaths resolve relative to the manifest's folder. Use onInvalid: 'skip' to drop such lines.`,
        { source: `${path}:${bad[0].line}` },
      );
    } else m.skipped.push(...bad);
  }
  m.skipped.sort((a, b) => a.line - b.line);
  return { ...m, records: kept };
}
