/**
 * Metrics as JSON Lines: one object per logged step or evaluation, appended as training runs.
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

/** One line of `metrics.jsonl`. */
export interface MetricsRecord {
  /** `step` for training metrics, `eval` for evaluation results. */
  type: 'step' | 'eval';
  /** Optimizer step. */
  step: number;
  /** ISO time the line was written. */
  time: string;
  /** Metric values (`loss`, `rewards/accuracies`, ...). Non-finite values are written as null. */
  [metric: string]: number | string | null;
}

/**
 * Append one record to a JSONL file (creating its directory).
 * @param file - the `.jsonl` path.
 * @param type - `step` or `eval`.
 * @param step - the optimizer step.
 * @param metrics - name → value.
 */
export async function appendMetrics(file: string, type: MetricsRecord['type'], step: number, metrics: Readonly<Record<string, number>>): Promise<void> {
  const rec: Record<string, number | string | null> = { type, step, time: new Date().toISOString() };
  for (const [k, v] of Object.entries(metrics)) rec[k] = Number.isFinite(v) ? v : null;
  await fsp.mkdir(path.dirname(path.resolve(file)), { recursive: true });
  await fsp.appendFile(file, JSON.stringify(rec) + '\n');
}

/**
 * Read every record of a metrics JSONL file (blank lines skipped).
 * @param file - the `.jsonl` path.
 * @returns the records in file order.
 * @throws {ConfigError} naming the line that is not a JSON object with a numeric `step`.
 */
export async function readMetricsFile(file: string): Promise<MetricsRecord[]> {
  const text = await fsp.readFile(file, 'utf8');
  const out: MetricsRecord[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      // a process killed mid-write can leave a partial last line: ignore only that one
      if (i === text.split('\n').length - 1 || text.split('\n').slice(i + 1).every((l) => !l.trim())) return;
      throw new ConfigError(`${file}:${i + 1}: not valid JSON.`, { source: file });
    }
    if (!v || typeof v !== 'object' || typeof (v as { step?: unknown }).step !== 'number') {
      throw new ConfigError(`${file}:${i + 1}: expected an object with a numeric "step".`, { source: file });
    }
    out.push(v as MetricsRecord);
  });
  return out;
}

/**
 * Drop records after `step` (used on resume, so a run killed after its last checkpoint does not leave
 * duplicate steps). A missing file is left missing.
 * @param file - the `.jsonl` path.
 * @param step - keep records with `step <= step`.
 */
export async function truncateMetrics(file: string, step: number): Promise<void> {
  let recs: MetricsRecord[];
  try {
    recs = await readMetricsFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  const kept = recs.filter((r) => r.step <= step);
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, kept.map((r) => JSON.stringify(r) + '\n').join(''));
  await fsp.rename(tmp, file);
}
