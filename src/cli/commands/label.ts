/**
 * `prefkit label`: label a pair manifest (JSONL) with any OpenAI-compatible vision model.
 * @module
 */
import { readFile, writeFile, mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { ConfigError, parseWithSchema } from '../../errors.js';
import { labelPairs, openAIJudge, type LabelEvent, type LabelPairsResult } from '../../vlm/index.js';

/** One manifest line as `prefkit label` needs it; other fields are kept as they are. */
const ManifestLineSchema = z.looseObject({
  prompt: z.string(),
  chosen: z.string().min(1),
  rejected: z.string().min(1),
  label: z.number().min(0).max(1).nullable().optional(),
});

/** Options of {@link runLabel} (the `prefkit label` flags). */
export interface LabelCommandOptions {
  manifest: string;
  baseUrl: string;
  model: string;
  apiKeyEnv?: string;
  out?: string;
  cache?: string;
  criteria?: string;
  concurrency?: number;
  bothOrders?: boolean;
  maxSide?: number;
  timeoutMs?: number;
  maxRetries?: number;
  responseFormat?: 'json_schema' | 'json_object' | 'none';
  hard?: boolean;
  failOnError?: boolean;
  quiet?: boolean;
}

/**
 * Read a JSONL pair manifest (`prompt`, `chosen`, `rejected`, optional `label`).
 * @param file - the manifest path.
 * @returns the records, in file order.
 * @throws {ConfigError} naming the line that is not JSON or lacks a field.
 */
export async function readLabelManifest(file: string): Promise<Array<z.infer<typeof ManifestLineSchema>>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`Cannot read manifest ${file}: ${(e as Error).message}.`, { source: file });
  }
  const out: Array<z.infer<typeof ManifestLineSchema>> = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      throw new ConfigError(`Manifest ${file} line ${i + 1} is not JSON; each line must be one object {prompt, chosen, rejected, label?}.`, { source: file });
    }
    out.push(parseWithSchema(ManifestLineSchema, v, `manifest ${file} line ${i + 1}`));
  });
  return out;
}

/**
 * Run `prefkit label`: judge every pair, write the labelled manifest (`label` = soft p, or the
 * hard label with `hard`; the manifest's own label moves to `humanLabel`; the verdict goes in
 * `vlm`), report failures and agreement with human labels.
 * @param o - the flags.
 * @param log - where progress and the summary go (default stderr).
 * @returns the labelling result and the output path.
 * @throws {ConfigError} for a bad manifest or options; with `failOnError`, a {@link ConfigError} when any item failed.
 */
export async function runLabel(o: LabelCommandOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<{ result: LabelPairsResult; out: string }> {
  const manifest = resolve(o.manifest);
  const records = await readLabelManifest(manifest);
  const out = resolve(o.out ?? manifest.replace(/(\.jsonl)?$/, '.labels.jsonl'));
  const cacheFile = resolve(o.cache ?? manifest.replace(/(\.jsonl)?$/, '.vlm-cache.jsonl'));
  const judge = openAIJudge({
    baseURL: o.baseUrl,
    model: o.model,
    apiKeyEnv: o.apiKeyEnv,
    cacheFile,
    concurrency: o.concurrency ?? 4,
    bothOrders: o.bothOrders ?? false,
    ...(o.maxSide !== undefined ? { maxSide: o.maxSide } : {}),
    ...(o.timeoutMs !== undefined ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.maxRetries !== undefined ? { maxRetries: o.maxRetries } : {}),
    ...(o.responseFormat !== undefined ? { responseFormat: o.responseFormat } : {}),
    onEvent: (e) => {
      if (!o.quiet && e.type === 'retry') log(`retry ${e.attempt} in ${Math.round(e.delayMs)} ms: ${e.reason}`);
    },
  });
  let lastPct = -1;
  const onProgress = (e: LabelEvent) => {
    if (o.quiet) return;
    if (e.type === 'start') log(`labelling ${e.total} pairs with ${o.model} at ${o.baseUrl} (cache ${cacheFile})`);
    if (e.type === 'item') {
      const pct = Math.floor((100 * e.done) / e.total / 10) * 10;
      if (pct !== lastPct || e.status === 'failed') {
        lastPct = pct;
        log(`[${e.done}/${e.total}] ${e.failed} failed${e.status === 'failed' ? ` — item ${e.index}: ${e.error}` : ''}`);
      }
    }
  };
  const result = await labelPairs(
    records.map((r) => ({ prompt: r.prompt, chosen: r.chosen, rejected: r.rejected, label: r.label ?? undefined })),
    judge,
    { criteria: o.criteria, concurrency: o.concurrency ?? 4, baseDir: dirname(manifest), onProgress },
  );
  const lines: string[] = [];
  result.labels.forEach((l, i) => {
    if (l.status !== 'labelled') return;
    const { label: human, ...rest } = records[i]!;
    lines.push(
      JSON.stringify({
        ...rest,
        label: o.hard ? l.label : l.p,
        ...(typeof human === 'number' ? { humanLabel: human } : {}),
        vlm: {
          model: o.model,
          criteria: o.criteria ?? 'overall',
          preference: l.preference,
          confidence: l.confidence,
          p: l.p,
          rationale: l.rationale,
          ...(l.positionConsistent !== undefined ? { positionConsistent: l.positionConsistent } : {}),
        },
      }),
    );
  });
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, lines.length ? `${lines.join('\n')}\n` : '');
  const s = result.summary;
  log(`labelled ${s.labelled}/${s.total} (${s.cached} from cache), ${s.failed} failed, ${(s.elapsedMs / 1000).toFixed(1)} s, ${judge.stats.requests} requests, ${judge.stats.retries} retries → ${out}`);
  for (const f of result.failures) log(`  failed item ${f.index} [${f.code}]: ${f.message}`);
  if (result.agreement) {
    const a = result.agreement;
    log(`agreement with human labels (n=${a.n}): accuracy ${a.accuracy.toFixed(3)}, Cohen's kappa ${Number.isNaN(a.kappa) ? 'undefined' : a.kappa.toFixed(3)}`);
  }
  if (o.failOnError && s.failed > 0) {
    throw new ConfigError(`${s.failed} of ${s.total} pairs could not be labelled (see above); rerun to retry only those (answers are cached in ${cacheFile}).`);
  }
  return { result, out };
}

function intArg(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be a whole number >= ${min}; got ${JSON.stringify(v)}.`);
    return n;
  };
}

/**
 * Register `prefkit label` on a commander program.
 * @param program - the root command.
 * @returns the `label` sub-command.
 * @example
 * const program = new Command('prefkit');
 * registerLabelCommand(program);
 * await program.parseAsync(['label', '--manifest', 'pairs.jsonl', '--base-url', 'http://127.0.0.1:11434/v1', '--model', 'qwen2.5vl:7b'], { from: 'user' });
 */
export function registerLabelCommand(program: Command): Command {
  return program
    .command('label')
    .description('Label a pair manifest (JSONL: prompt, chosen, rejected) with an OpenAI-compatible vision model (vLLM, Ollama, llama.cpp, OpenAI).')
    .requiredOption('--manifest <file>', 'pair manifest, JSONL; paths relative to it')
    .requiredOption('--base-url <url>', 'server base URL including /v1, e.g. http://127.0.0.1:8000/v1')
    .requiredOption('--model <name>', 'model name as the server knows it')
    .option('--api-key-env <name>', 'environment variable holding the API key (never pass the key itself)')
    .option('--out <file>', 'labelled manifest to write (default <manifest>.labels.jsonl)')
    .option('--cache <file>', 'answer cache, JSONL (default <manifest>.vlm-cache.jsonl); a rerun asks only what is missing')
    .option('--criteria <text>', "what to judge on: 'overall', 'visual quality', 'motion', 'prompt alignment' or free text", 'overall')
    .option('--concurrency <n>', 'requests in flight', intArg('--concurrency', 1), 4)
    .option('--both-orders', 'ask in both orders and reconcile (position-bias control)', false)
    .option('--max-side <px>', 'longest image side sent', intArg('--max-side', 16))
    .option('--timeout-ms <ms>', 'per-request timeout', intArg('--timeout-ms', 1))
    .option('--max-retries <n>', 'retries per request', intArg('--max-retries', 0))
    .option('--response-format <kind>', 'json_schema | json_object | none')
    .option('--hard', 'write hard labels (1, 0, 0.5) instead of soft p', false)
    .option('--fail-on-error', 'exit with an error when any pair failed', false)
    .option('--quiet', 'print only the summary', false)
    .action(async (opts: LabelCommandOptions) => {
      if (opts.responseFormat !== undefined && !['json_schema', 'json_object', 'none'].includes(opts.responseFormat)) {
        throw new InvalidArgumentError(`--response-format must be json_schema, json_object or none; got ${JSON.stringify(opts.responseFormat)}.`);
      }
      await runLabel(opts);
    });
}
