/**
 * A small typed wrapper over `child_process.spawn` for ffmpeg and ffprobe: binary resolution,
 * stderr capture, timeouts and abort signals that always kill the child and wait for it to exit.
 * (fluent-ffmpeg is deprecated and archived upstream; this replaces it.)
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { MediaError } from '../errors.js';

/** Which media tool. */
export type MediaTool = 'ffmpeg' | 'ffprobe';

/** Where a resolved binary came from, in the order they are tried. */
export type BinarySource = 'option' | 'env' | 'static' | 'path';

/** A resolved ffmpeg or ffprobe binary. */
export interface ResolvedBinary {
  /** Absolute (or as given) path of the executable. */
  readonly path: string;
  /** Which rule found it. */
  readonly source: BinarySource;
}

/** Options for {@link resolveFfmpeg} and {@link resolveFfprobe}. */
export interface ResolveBinaryOptions {
  /** An explicit path to the binary (tried first). */
  path?: string;
  /** Environment to read `FFMPEG_PATH` / `FFPROBE_PATH` and `PATH` from (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /**
   * Loads the static-binary package (`ffmpeg-static` / `ffprobe-static`); returns its export.
   * Default: a dynamic `import()`. Tests pass a stub; pass `false` to skip this rule.
   */
  loadStatic?: false | (() => Promise<unknown>);
}

const ENV_VAR: Record<MediaTool, string> = { ffmpeg: 'FFMPEG_PATH', ffprobe: 'FFPROBE_PATH' };
const STATIC_PKG: Record<MediaTool, string> = { ffmpeg: 'ffmpeg-static', ffprobe: 'ffprobe-static' };

/** Why a candidate is unusable, or `undefined` when it is an executable regular file. */
function checkExecutable(p: string): string | undefined {
  try {
    const st = statSync(p);
    if (!st.isFile()) return `${p} is not a regular file`;
    accessSync(p, fsConstants.X_OK);
    return undefined;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return `${p} does not exist`;
    if (code === 'EACCES') return `${p} is not executable`;
    return `${p}: ${(e as Error).message}`;
  }
}

/** The path an `ffmpeg-static`-like module exports (a string, or `{ path }` for ffprobe-static). */
function staticExportPath(mod: unknown): string | undefined {
  const m = (mod as { default?: unknown })?.default ?? mod;
  if (typeof m === 'string') return m;
  if (m && typeof (m as { path?: unknown }).path === 'string') return (m as { path: string }).path;
  return undefined;
}

const resolveCache = new Map<string, ResolvedBinary>();

async function resolveTool(tool: MediaTool, options: ResolveBinaryOptions = {}): Promise<ResolvedBinary> {
  const env = options.env ?? process.env;
  const cacheable = options.env === undefined && options.loadStatic === undefined;
  const key = `${tool}\0${options.path ?? ''}\0${env[ENV_VAR[tool]] ?? ''}\0${env.PATH ?? ''}`;
  if (cacheable) {
    const hit = resolveCache.get(key);
    if (hit && checkExecutable(hit.path) === undefined) return hit;
  }
  const tried: string[] = [];
  const found = (path: string, source: BinarySource): ResolvedBinary => {
    const r = { path, source };
    if (cacheable) resolveCache.set(key, r);
    return r;
  };

  // 1. explicit option
  if (options.path !== undefined && options.path !== '') {
    const why = checkExecutable(options.path);
    if (!why) return found(options.path, 'option');
    tried.push(`1. explicit option: ${why}`);
  } else tried.push(`1. explicit option: not given`);

  // 2. environment variable
  const envPath = env[ENV_VAR[tool]];
  if (envPath) {
    const why = checkExecutable(envPath);
    if (!why) return found(envPath, 'env');
    tried.push(`2. ${ENV_VAR[tool]}: ${why}`);
  } else tried.push(`2. ${ENV_VAR[tool]}: not set`);

  // 3. the static-binary npm package, if installed (it may be installed without its binary)
  if (options.loadStatic === false) tried.push(`3. ${STATIC_PKG[tool]}: skipped`);
  else {
    let mod: unknown;
    let loadErr: string | undefined;
    try {
      mod = options.loadStatic ? await options.loadStatic() : await import(STATIC_PKG[tool]);
    } catch (e) {
      loadErr = (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : `failed to load (${(e as Error).message})`;
    }
    if (loadErr) tried.push(`3. ${STATIC_PKG[tool]}: ${loadErr}`);
    else {
      const p = staticExportPath(mod);
      if (!p) tried.push(`3. ${STATIC_PKG[tool]}: installed but exports no binary path for this platform`);
      else {
        const why = checkExecutable(p);
        if (!why) return found(p, 'static');
        tried.push(`3. ${STATIC_PKG[tool]}: installed but its binary is missing (${why})`);
      }
    }
  }

  // 4. PATH
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const d of dirs) {
    const p = join(d, tool);
    if (checkExecutable(p) === undefined) return found(p, 'path');
  }
  tried.push(`4. \`${tool}\` on PATH: not found in ${dirs.length} director${dirs.length === 1 ? 'y' : 'ies'}`);

  throw new MediaError(
    `Could not find ${tool}. Tried, in order:\n  ${tried.join('\n  ')}\n` +
      `Install ffmpeg (e.g. \`apt-get install ffmpeg\`), set ${ENV_VAR[tool]}, or pass the path explicitly.`,
    { code: 'MEDIA_TOOL_FAILED', command: tool },
  );
}

/**
 * Find the ffmpeg executable: the explicit `path` option, then `FFMPEG_PATH`, then the
 * `ffmpeg-static` package if installed (its binary must exist and be executable), then `ffmpeg` on `PATH`.
 * @param options - explicit path and environment overrides.
 * @returns the path and which rule found it.
 * @throws {MediaError} naming all four places and why each failed.
 * @example
 * const { path, source } = await resolveFfmpeg();
 */
export function resolveFfmpeg(options?: ResolveBinaryOptions): Promise<ResolvedBinary> {
  return resolveTool('ffmpeg', options);
}

/**
 * Find the ffprobe executable: the explicit `path` option, then `FFPROBE_PATH`, then the
 * `ffprobe-static` package if installed, then `ffprobe` on `PATH`.
 * @param options - explicit path and environment overrides.
 * @returns the path and which rule found it.
 * @throws {MediaError} naming all four places and why each failed.
 */
export function resolveFfprobe(options?: ResolveBinaryOptions): Promise<ResolvedBinary> {
  return resolveTool('ffprobe', options);
}

/** Keeps the last `max` bytes of a stream of chunks. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max = 8192) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0].length >= this.max) this.size -= this.chunks.shift()!.length;
  }
  /** The kept text, trimmed to the last `lines` lines. */
  text(lines = 20): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    const clipped = s.length > this.max ? s.slice(s.length - this.max) : s;
    return clipped.trimEnd().split(/\r?\n/).slice(-lines).join('\n');
  }
  get length(): number {
    return this.size;
  }
}

/** Options for running a media tool. */
export interface MediaRunOptions {
  /** Abort the run (the child is killed and the promise rejects with a `MediaError` coded `ABORTED`). */
  signal?: AbortSignal;
  /** Kill the child after this many milliseconds. */
  timeoutMs?: number;
  /** The file the run is about, for error messages. */
  file?: string;
}

/** A spawned media process with its exit promise. */
export interface MediaProcess {
  readonly child: ChildProcess;
  readonly command: string;
  readonly stderr: TailBuffer;
  /** Resolves with the exit code (or null when killed) once the process has exited and its pipes closed. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set when the run was stopped by the timeout or the abort signal. */
  readonly stopReason: () => 'timeout' | 'abort' | undefined;
  /** Kill the child (SIGKILL) if still running and wait for it to exit. */
  kill(): Promise<void>;
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/**
 * Spawn a media tool with piped stdio, stderr captured into a tail buffer, and timeout/abort
 * wired to SIGKILL. The caller reads `child.stdout` and must await `exited` (or `kill()`).
 * @param binary - the executable path.
 * @param args - its arguments.
 * @param options - abort signal, timeout and the file concerned.
 * @param stdin - `'pipe'` to write to the child's stdin, else ignored.
 * @throws {MediaError} coded `ABORTED` when the signal is already aborted.
 */
export function spawnMedia(binary: string, args: readonly string[], options: MediaRunOptions = {}, stdin: 'pipe' | 'ignore' = 'ignore'): MediaProcess {
  const command = [binary, ...args].map(quoteArg).join(' ');
  if (options.signal?.aborted) {
    throw new MediaError(`Aborted before starting: ${command}`, { code: 'ABORTED', command, file: options.file });
  }
  const child = spawn(binary, args, { stdio: [stdin, 'pipe', 'pipe'], windowsHide: true });
  const stderr = new TailBuffer();
  child.stderr!.on('data', (c: Buffer) => stderr.push(c));
  let reason: 'timeout' | 'abort' | undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = (why: 'timeout' | 'abort') => {
    if (reason === undefined) reason = why;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  const onAbort = () => stop('abort');
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.timeoutMs !== undefined && options.timeoutMs > 0) {
    timer = setTimeout(() => stop('timeout'), options.timeoutMs);
    timer.unref?.();
  }
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
      stderr.push(Buffer.from(`spawn error: ${e.message}\n`));
      // 'close' may not follow a failed spawn
      if (child.pid === undefined) finish(null, null);
    });
    const finish = (code: number | null, sig: NodeJS.Signals | null) => {
      if (timer) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      resolve({ code: spawnError && code === null ? -1 : code, signal: sig });
    };
    child.once('close', (code, sig) => finish(code, sig));
  });
  return {
    child,
    command,
    stderr,
    exited,
    stopReason: () => reason,
    async kill() {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The `MediaError` for a finished or stopped run: timeout, abort, or a non-zero exit with the stderr tail.
 * @param proc - the process.
 * @param code - its exit code.
 * @param what - what was being done, e.g. `'decode'`.
 */
export function mediaRunError(proc: MediaProcess, code: number | null, what: string, file?: string): MediaError {
  const reason = proc.stopReason();
  const tail = proc.stderr.text();
  if (reason === 'timeout') {
    return new MediaError(`${what} timed out${file ? ` on ${file}` : ''}; the ffmpeg process was killed.\n  command: ${proc.command}`, {
      code: 'ABORTED',
      command: proc.command,
      file,
      exitCode: code,
      stderrTail: tail,
    });
  }
  if (reason === 'abort') {
    return new MediaError(`${what} aborted${file ? ` on ${file}` : ''}; the ffmpeg process was killed.`, {
      code: 'ABORTED',
      command: proc.command,
      file,
      exitCode: code,
      stderrTail: tail,
    });
  }
  return new MediaError(
    `${what} failed${file ? ` on ${file}` : ''} (exit code ${code}).\n  command: ${proc.command}\n  stderr (last lines):\n    ${tail.split('\n').join('\n    ') || '(empty)'}`,
    { code: 'MEDIA_INVALID', command: proc.command, file, exitCode: code, stderrTail: tail },
  );
}

/**
 * Run a tool to completion and collect stdout (for small outputs such as ffprobe's JSON).
 * @param binary - the executable.
 * @param args - its arguments.
 * @param options - abort signal, timeout, the file concerned.
 * @returns stdout as a Buffer.
 * @throws {MediaError} on non-zero exit (with the stderr tail), timeout or abort.
 */
export async function runMedia(binary: string, args: readonly string[], options: MediaRunOptions & { what?: string } = {}): Promise<Buffer> {
  const proc = spawnMedia(binary, args, options);
  const out: Buffer[] = [];
  proc.child.stdout!.on('data', (c: Buffer) => out.push(c));
  const { code } = await proc.exited;
  if (code !== 0 || proc.stopReason()) throw mediaRunError(proc, code, options.what ?? binary, options.file);
  return Buffer.concat(out);
}
