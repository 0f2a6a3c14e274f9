/**
 * Engine start-up: picks and initialises the TensorFlow.js backend, registers the wasm
 * gradient kernels prefkit supplies, and turns on the threaded wasm binary under Node.
 * Nothing here runs at import time; call {@link initEngine} once before training.
 * @module
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import * as tf from '@tensorflow/tfjs';
import { BackendError, ConfigError } from '../errors.js';
import { registerWasmKernels } from './kernels/register.js';
import { availableCores, patchWasmThreadsForNode, type WasmBackendModule } from './wasm-threads.js';

/** What {@link initEngine} may be asked for. `tensorflow` means tfjs-node (GPU build first). */
export type EngineBackendRequest = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
/** A backend prefkit can run on. */
export type EngineBackend = 'tensorflow' | 'wasm' | 'cpu';

/** Options of {@link initEngine}. */
export interface EngineOptions {
  /** Which backend; default `'auto'` (tfjs-node-gpu → tfjs-node → wasm → cpu). Env `PREFKIT_BACKEND` overrides. */
  backend?: EngineBackendRequest;
  /**
   * wasm only: XNNPACK threads. Default: the idle cores (cores available to the process minus
   * the 1-minute load average, at least 1; a busy core makes a spinning thread pool slower than
   * one thread). Env `PREFKIT_THREADS` overrides. 1 uses the single-threaded SIMD binary. The count is fixed
   * once the wasm backend has started in this process.
   */
  threads?: number;
}

/** What {@link initEngine} chose. */
export interface EngineInfo {
  /** The backend now active. */
  readonly backend: EngineBackend;
  /** The request it came from (after the env override). */
  readonly requested: EngineBackendRequest;
  /** Where the request came from. */
  readonly source: 'option' | 'env' | 'default';
  /** The npm package providing the backend. */
  readonly packageName: string;
  /** True for tfjs-node-gpu. */
  readonly gpu: boolean;
  /** Threads the backend computes with (wasm: the XNNPACK pool size; tfjs-node: its own pool, reported as the cores; cpu: 1). */
  readonly threads: number;
  /** wasm: whether the SIMD binary runs. */
  readonly simd: boolean;
  /** Kernels prefkit registered for this backend. */
  readonly kernels: readonly string[];
  /** Fallbacks taken on the way, in order (e.g. "@tensorflow/tfjs-node is not installed"). */
  readonly notes: readonly string[];
  /** `@tensorflow/tfjs` version. */
  readonly tfjsVersion: string;
}

const REQUESTS: readonly EngineBackendRequest[] = ['auto', 'tensorflow', 'wasm', 'cpu'];
const NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

/** How optional packages are imported; replaceable in tests. */
type Importer = (specifier: string) => Promise<unknown>;
/** Import `specifier`, first checking it resolves (so "not installed" is told apart from "broken"). */
const defaultImporter: Importer = async (specifier) => {
  try {
    createRequire(import.meta.url).resolve(specifier);
  } catch (e) {
    if ((e as { code?: string })?.code === 'MODULE_NOT_FOUND') {
      throw Object.assign(new Error(`Cannot find package '${specifier}'`), { code: 'ERR_MODULE_NOT_FOUND' });
    }
  }
  return import(specifier);
};
let importer: Importer = defaultImporter;
let failThreadedForTests = false;

/**
 * Test hooks (not part of the public API): replace the module importer (to simulate installed
 * or broken optional packages) and force the threaded-wasm start to fail.
 * @internal
 */
export const engineTestHooks = {
  setImporter(fn: Importer | null): void {
    importer = fn ?? defaultImporter;
  },
  failThreadedWasm(on: boolean): void {
    failThreadedForTests = on;
  },
};

let current: EngineInfo | null = null;
let currentKey = '';
let pending: { key: string; promise: Promise<EngineInfo> } | null = null;
let wasmThreadsStarted = 0; // the wasm pool size, once the backend has started

function isModuleNotFound(e: unknown, pkg: string): boolean {
  const err = e as { code?: string; message?: string };
  return (err?.code === 'ERR_MODULE_NOT_FOUND' || err?.code === 'MODULE_NOT_FOUND') && String(err.message ?? '').includes(pkg);
}

function resolveRequest(opts: EngineOptions): {
  requested: EngineBackendRequest;
  source: EngineInfo['source'];
  threads: number;
  threadsNote?: string;
  threadsKey: string;
} {
  const env = process.env.PREFKIT_BACKEND?.trim();
  let requested: EngineBackendRequest = 'auto';
  let source: EngineInfo['source'] = 'default';
  if (env) {
    if (!REQUESTS.includes(env as EngineBackendRequest)) {
      throw new ConfigError(`PREFKIT_BACKEND='${env}' is not a backend. Expected one of: ${REQUESTS.join(', ')}.`, { source: 'env PREFKIT_BACKEND' });
    }
    requested = env as EngineBackendRequest;
    source = 'env';
  } else if (opts.backend !== undefined) {
    if (!REQUESTS.includes(opts.backend)) {
      throw new ConfigError(`initEngine: backend '${String(opts.backend)}' is not a backend. Expected one of: ${REQUESTS.join(', ')}.`, { source: 'initEngine options' });
    }
    requested = opts.backend;
    source = 'option';
  }
  const envThreads = process.env.PREFKIT_THREADS?.trim();
  let threadsNote: string | undefined;
  let threads: number;
  if (envThreads) threads = Number(envThreads);
  else if (opts.threads !== undefined) threads = opts.threads;
  else ({ threads, note: threadsNote } = defaultThreads());
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) {
    throw new ConfigError(
      `initEngine: threads must be an integer in [1, 256], got ${envThreads ? `PREFKIT_THREADS='${envThreads}'` : String(opts.threads)}.`,
      { source: envThreads ? 'env PREFKIT_THREADS' : 'initEngine options' },
    );
  }
  return { requested, source, threads, threadsNote, threadsKey: envThreads ? `env:${envThreads}` : String(opts.threads ?? 'default') };
}

/**
 * Default wasm pool size: the idle cores — those available to the process minus the 1-minute
 * load average (at least 1). XNNPACK's pool threads spin-wait at every parallel op; when another
 * process holds one of two cores, a 2-thread engine measured 2.4x slower than a 1-thread one
 * (bench/RESULTS.md "Peer"), while on idle cores a second thread gains 13-26 %.
 */
function defaultThreads(): { threads: number; note?: string } {
  const cores = availableCores();
  const load = os.loadavg()[0] ?? 0;
  const idle = Math.max(1, Math.min(cores, Math.round(cores - load)));
  if (idle === cores) return { threads: cores };
  return {
    threads: idle,
    note: `threads defaulted to ${idle} of ${cores} cores: the 1-minute load average is ${load.toFixed(1)} (pass threads or PREFKIT_THREADS to override)`,
  };
}

/**
 * Pick and start the tensor backend, register prefkit's wasm gradient kernels, and report
 * the choice. Idempotent: a second call with the same request returns the same info at once.
 *
 * Ladder for `'auto'`: `@tensorflow/tfjs-node-gpu`, then `@tensorflow/tfjs-node` (each
 * imported only if installed), then wasm, then the pure-JS cpu backend. `'tensorflow'` tries
 * the two tfjs-node packages only. Env `PREFKIT_BACKEND` (auto|tensorflow|wasm|cpu) overrides
 * `backend`; env `PREFKIT_THREADS` overrides `threads`.
 *
 * On wasm with `threads > 1` the threaded SIMD binary is started under Node (see
 * `wasm-threads.ts`); if it fails, the single-threaded SIMD binary is used and
 * `notes` says so.
 *
 * @param opts - `{ backend, threads }`.
 * @returns what was chosen: `{ backend, threads, simd, gpu, packageName, kernels, notes, ... }`.
 * @throws {BackendError} when the requested backend cannot load; the message names the
 *   package to install.
 * @throws {ConfigError} for an unknown backend name or a bad thread count.
 * @example
 * const info = await initEngine({ backend: 'wasm', threads: 2 });
 * console.log(info.backend, info.threads, info.simd);
 */
export async function initEngine(opts: EngineOptions = {}): Promise<EngineInfo> {
  const req = resolveRequest(opts);
  // the thread request, not the resolved count: the load-based default may differ between calls
  const key = `${req.requested}/${req.threadsKey}/${req.source}`;
  if (current && currentKey === key && tf.getBackend() === current.backend) return current;
  if (pending && pending.key === key) return pending.promise;
  const promise = start(req).then(
    (info) => {
      current = info;
      currentKey = key;
      return info;
    },
  );
  pending = { key, promise };
  try {
    return await promise;
  } finally {
    if (pending?.promise === promise) pending = null;
  }
}

/**
 * The engine state chosen by the last {@link initEngine}, or `null` before any call.
 * @returns the {@link EngineInfo}, or `null`.
 */
export function getEngineInfo(): EngineInfo | null {
  return current;
}

async function start(req: { requested: EngineBackendRequest; source: EngineInfo['source']; threads: number; threadsNote?: string }): Promise<EngineInfo> {
  const notes: string[] = [];
  const base = { requested: req.requested, source: req.source, tfjsVersion: tf.version.tfjs };
  if (req.requested === 'auto' || req.requested === 'tensorflow') {
    const node = await tryTensorflow(notes);
    if (node) return { ...base, ...node, notes };
    if (req.requested === 'tensorflow') {
      throw new BackendError(
        `Backend 'tensorflow' is not available: ${notes.join('; ')}. Install @tensorflow/tfjs-node (CPU) or ` +
          `@tensorflow/tfjs-node-gpu (CUDA), version 4.22.0: npm install @tensorflow/tfjs-node@4.22.0. ` +
          `Or use backend 'wasm' (no install needed).`,
        { backend: 'tensorflow', packageName: '@tensorflow/tfjs-node' },
      );
    }
  }
  if (req.requested === 'auto' || req.requested === 'wasm') {
    if (req.threadsNote) notes.push(req.threadsNote);
    try {
      return { ...base, ...(await startWasm(req.threads, notes)), notes };
    } catch (e) {
      if (req.requested === 'wasm') {
        throw new BackendError(
          `Backend 'wasm' failed to start: ${(e as Error)?.message ?? String(e)}. It needs @tensorflow/tfjs-backend-wasm 4.22.0 ` +
            `(npm install @tensorflow/tfjs-backend-wasm@4.22.0) and a Node with WebAssembly SIMD (Node >= 16.4).`,
          { backend: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', cause: e },
        );
      }
      notes.push(`wasm failed: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  if (!(await tf.setBackend('cpu'))) {
    throw new BackendError(`Backend 'cpu' failed to start. It ships with @tensorflow/tfjs 4.22.0: reinstall it (npm ci).`, {
      backend: 'cpu',
      packageName: '@tensorflow/tfjs',
    });
  }
  return { ...base, backend: 'cpu', packageName: '@tensorflow/tfjs-backend-cpu', gpu: false, threads: 1, simd: false, kernels: [], notes };
}

type Chosen = Omit<EngineInfo, 'requested' | 'source' | 'tfjsVersion' | 'notes'>;

async function tryTensorflow(notes: string[]): Promise<Chosen | null> {
  for (const pkg of NODE_PACKAGES) {
    try {
      await importer(pkg);
    } catch (e) {
      if (isModuleNotFound(e, pkg)) notes.push(`${pkg} is not installed`);
      else notes.push(`${pkg} is installed but failed to load (${(e as Error)?.message ?? String(e)})`);
      continue;
    }
    let ok = false;
    try {
      ok = await tf.setBackend('tensorflow');
    } catch (e) {
      notes.push(`${pkg} loaded but its backend failed: ${(e as Error)?.message ?? String(e)}`);
      continue;
    }
    if (!ok) {
      notes.push(`${pkg} loaded but did not register a working 'tensorflow' backend (is it built for this @tensorflow/tfjs?)`);
      continue;
    }
    const gpu = pkg === '@tensorflow/tfjs-node-gpu';
    return { backend: 'tensorflow', packageName: pkg, gpu, threads: availableCores(), simd: true, kernels: [] };
  }
  return null;
}

async function loadWasmModule(): Promise<WasmBackendModule> {
  const mod = (await importer('@tensorflow/tfjs-backend-wasm')) as Partial<WasmBackendModule> & { default?: WasmBackendModule };
  const m = typeof mod.setThreadsCount === 'function' ? (mod as WasmBackendModule) : mod.default;
  if (!m || typeof m.setThreadsCount !== 'function') throw new Error('@tensorflow/tfjs-backend-wasm did not load as expected');
  return m;
}

async function startWasm(threads: number, notes: string[]): Promise<Chosen> {
  const listeners = snapshotProcessListeners();
  try {
    return await startWasmInner(threads, notes);
  } finally {
    listeners.removeAdded();
  }
}

/** The process events whose listeners the Emscripten module of tfjs-backend-wasm takes over. */
const EMSCRIPTEN_PROCESS_EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/**
 * Snapshot the process 'uncaughtException' / 'unhandledRejection' listeners, to remove the ones
 * added later. The Emscripten module of every tfjs-backend-wasm binary (SIMD, threaded SIMD and
 * plain) installs listeners that rethrow the error from inside its own minified source, so an
 * uncaught error in the user's program printed ~40–60 KB of Emscripten JS before the message and
 * exited with code 7. With them removed, Node reports uncaught errors as usual (stack trace, exit 1).
 */
function snapshotProcessListeners(): { removeAdded(): void } {
  type Listener = (...args: unknown[]) => void;
  const proc = process as unknown as { listeners(ev: string): Listener[]; removeListener(ev: string, l: Listener): unknown };
  const before = new Map(EMSCRIPTEN_PROCESS_EVENTS.map((ev) => [ev, new Set(proc.listeners(ev))]));
  return {
    removeAdded() {
      for (const ev of EMSCRIPTEN_PROCESS_EVENTS) {
        const had = before.get(ev)!;
        for (const l of proc.listeners(ev)) {
          if (!had.has(l)) proc.removeListener(ev, l);
        }
      }
    },
  };
}

async function startWasmInner(threads: number, notes: string[]): Promise<Chosen> {
  const wasm = await loadWasmModule();
  const kernels = registerWasmKernels();
  const simd = Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'));
  if (tf.findBackend('wasm') != null) {
    // already started in this process: the pool size is fixed
    if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false");
    const actual = wasm.getThreadsCount();
    if (actual !== threads) notes.push(`wasm already started with ${actual} thread(s) in this process; ${threads} requested`);
    wasmThreadsStarted = actual;
    return { backend: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', gpu: false, threads: actual, simd, kernels };
  }
  if (threads > 1 && simd) {
    let ok = false;
    let why = '';
    const restore = patchWasmThreadsForNode(wasm, threads);
    const warn = silenceTfWarnings();
    try {
      if (failThreadedForTests) throw new Error('threaded start disabled by a test hook');
      ok = await tf.setBackend('wasm');
      if (!ok) why = "tf.setBackend('wasm') returned false";
    } catch (e) {
      why = (e as Error)?.message ?? String(e);
    } finally {
      restore();
      warn.restore();
    }
    if (ok) {
      unrefWasmWorkers();
      wasmThreadsStarted = wasm.getThreadsCount();
      return { backend: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', gpu: false, threads: wasmThreadsStarted, simd, kernels };
    }
    if (warn.messages.length) why += ` (${warn.messages.join(' ').slice(0, 300)})`;
    notes.push(`threaded wasm failed to start (${why}); using the single-threaded SIMD binary`);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  } else if (threads > 1) {
    notes.push('WebAssembly SIMD unavailable: the threaded binary needs it; using 1 thread');
  }
  wasm.setThreadsCount(1);
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') returned false");
  wasmThreadsStarted = wasm.getThreadsCount();
  return { backend: 'wasm', packageName: '@tensorflow/tfjs-backend-wasm', gpu: false, threads: wasmThreadsStarted, simd, kernels };
}

/**
 * The XNNPACK pool threads are Emscripten pthreads on worker_threads that run for the life of
 * the process and are ref'd while running, so Node would never exit on its own: unref them.
 */
function unrefWasmWorkers(): void {
  const b = tf.backend() as unknown as { wasm?: { PThread?: { runningWorkers?: Array<{ unref?: () => void }>; unusedWorkers?: Array<{ unref?: () => void }> } } };
  const pt = b.wasm?.PThread;
  for (const w of [...(pt?.runningWorkers ?? []), ...(pt?.unusedWorkers ?? [])]) w.unref?.();
}

/** Capture console.warn while the backend starts (tfjs logs failures there). */
function silenceTfWarnings(): { messages: string[]; restore(): void } {
  const real = console.warn;
  const messages: string[] = [];
  console.warn = (...args: unknown[]) => {
    messages.push(args.map(String).join(' '));
  };
  return {
    messages,
    restore() {
      console.warn = real;
    },
  };
}
