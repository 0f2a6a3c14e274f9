/**
 * On-disk JSONL cache of VLM answers. One line per answer, appended as it arrives, so a killed
 * run resumes without asking anything twice. Keys are sha256 hashes of the media content,
 * prompt, criteria, model and request settings; the file never holds credentials.
 * @module
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';

/** One cached answer. */
export interface CacheEntry {
  /** Format version. */
  v: 1;
  key: string;
  /** `compare` or `caption`. */
  kind: string;
  /** Model / judge id. */
  model: string;
  /** The validated answer. */
  value: unknown;
  /** ISO time written. */
  at: string;
}

const EntrySchema = z.object({ v: z.literal(1), key: z.string(), kind: z.string(), model: z.string(), value: z.unknown(), at: z.string() });

/**
 * A stable sha256 (hex) of a JSON-serialisable value (object keys sorted).
 * @param parts - what identifies a request.
 * @returns 64 hex characters.
 */
export function cacheKey(parts: unknown): string {
  return createHash('sha256').update(stableStringify(parts)).digest('hex');
}

function stableStringify(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(stableStringify).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableStringify(o[k])}`)
    .join(',')}}`;
}

/** The JSONL answer cache. Open with {@link JudgeCache.open}. */
export class JudgeCache {
  private readonly entries = new Map<string, CacheEntry>();
  private chain: Promise<void> = Promise.resolve();
  private constructor(
    /** The JSONL file. */
    readonly file: string,
    /** Lines skipped on load because they were torn or invalid (e.g. a run killed mid-write). */
    readonly skippedLines: number,
  ) {}

  /**
   * Load (or start) a cache file. Torn or invalid lines are skipped, not fatal.
   * @param file - path of the JSONL file; created on the first write.
   */
  static async open(file: string): Promise<JudgeCache> {
    let text = '';
    try {
      text = await readFile(file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    let skipped = 0;
    const parsed: CacheEntry[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = EntrySchema.safeParse(JSON.parse(line));
        if (r.success) parsed.push(r.data as CacheEntry);
        else skipped++;
      } catch {
        skipped++;
      }
    }
    const c = new JudgeCache(file, skipped);
    for (const e of parsed) c.entries.set(e.key, e);
    // A torn last line (no trailing newline) would glue onto the next append: start clean.
    if (text.length > 0 && !text.endsWith('\n')) await appendFile(file, '\n');
    return c;
  }

  /** Number of answers held. */
  get size(): number {
    return this.entries.size;
  }

  /** The cached answer for `key`, if any. */
  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * Record an answer: held in memory at once and appended to the file (one line, one write).
   * Resolves once the line is written.
   */
  put(entry: Omit<CacheEntry, 'v' | 'at'>): Promise<void> {
    const full: CacheEntry = { v: 1, key: entry.key, kind: entry.kind, model: entry.model, value: entry.value, at: new Date().toISOString() };
    this.entries.set(full.key, full);
    const line = `${JSON.stringify(full)}\n`;
    const p = this.chain.then(async () => {
      await mkdir(dirname(this.file), { recursive: true });
      await appendFile(this.file, line);
    });
    this.chain = p.catch(() => undefined);
    return p;
  }
}
