/**
 * Lets `@tensorflow/tfjs-backend-wasm` 4.22 use its threaded-SIMD binary under Node
 * (XNNPACK's pthreadpool on `worker_threads`). Stock, the backend stays on one thread in
 * Node, for three reasons this shim removes while the backend initialises:
 *
 * 1. the flag `WASM_HAS_MULTITHREAD_SUPPORT` is hard-wired to false under Node
 *    (tfjs issue #3830): we set it;
 * 2. the backend hands Emscripten its pthread worker script and its own factory as Blob
 *    object URLs, which Node's `worker_threads` cannot load: `Blob` and
 *    `URL.createObjectURL` are swapped for versions that write those sources to files in a
 *    temp dir (removed at exit) and return the paths; the worker loads the factory file;
 * 3. the C++ side caps the pool at `os.cpus().length / 2` ("2 hyperthreads per core"):
 *    `os.cpus()` reports twice the wanted count during init.
 *
 * @see ../shared/research/tfjs-engine.md, section "Threads".
 * @module
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import * as tf from '@tensorflow/tfjs';

const FACTORY_MARK = 'var WasmBackendModuleThreadedSimd';
const WORKER_LOAD = 'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}';

/** What the wasm backend module exports that the shim uses. */
export interface WasmBackendModule {
  setThreadsCount(n: number): void;
  getThreadsCount(): number;
}

function wasmDistDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm'));
}

/**
 * Patch the globals the wasm backend uses during initialisation so that its threaded
 * binary loads under Node with `threads` threads. Call right before `tf.setBackend('wasm')`
 * and call the returned `restore()` right after it (success or not).
 *
 * @param wasm - the `@tensorflow/tfjs-backend-wasm` module.
 * @param threads - the XNNPACK pool size wanted (>= 1).
 * @returns `restore`, which puts `Blob`, `URL.createObjectURL` and `os.cpus` back.
 */
export function patchWasmThreadsForNode(wasm: WasmBackendModule, threads: number): () => void {
  const dist = wasmDistDir();
  // The factory source (Function.prototype.toString of the bundled Emscripten factory) refers
  // to names the rollup bundle defines outside it.
  const prelude =
    'var require$$0=require("fs"),require$$1=require("path"),require$$3=require("perf_hooks"),' +
    'require$$4=require("os"),commonjsGlobal=globalThis,__dirname=' +
    JSON.stringify(dist) +
    ';\n';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'prefkit-wasm-threads-'));
  // pthread workers may be (re)started later, so the files stay until exit
  process.once('exit', () => {
    try {
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort */
    }
  });
  const RealBlob = globalThis.Blob;
  const realCreate = URL.createObjectURL;
  const realCpus = os.cpus;
  let n = 0;
  const workerFiles = new Map<string, string>();

  class FileBlob {
    __text?: string;
    __path?: string;
    type?: string;
    constructor(parts: unknown[], opts?: { type?: string }) {
      const text = parts.map(String).join('');
      this.type = opts?.type;
      if (text.startsWith(FACTORY_MARK)) {
        // travels through postMessage as the plain object {__path}
        this.__path = path.join(dir, `factory-${n++}.js`);
        fs.writeFileSync(this.__path, prelude + text);
      } else {
        this.__text = text;
      }
    }
  }
  (globalThis as { Blob: unknown }).Blob = FileBlob;
  URL.createObjectURL = ((b: unknown) => {
    if (!(b instanceof FileBlob)) return realCreate.call(URL, b as Blob);
    if (b.__path) return b.__path;
    let text = b.__text ?? '';
    // worker.js: load the factory from the file path the fake Blob carries
    if (text.includes(WORKER_LOAD)) {
      text = text.replace(
        WORKER_LOAD,
        WORKER_LOAD + 'else if(e.data.urlOrBlob&&e.data.urlOrBlob.__path){importScripts(e.data.urlOrBlob.__path)}',
      );
    }
    let p = workerFiles.get(text);
    if (!p) {
      p = path.join(dir, `worker-${n++}.js`);
      fs.writeFileSync(p, text);
      workerFiles.set(text, p);
    }
    return p;
  }) as typeof URL.createObjectURL;
  os.cpus = () => {
    const c = realCpus.call(os);
    while (c.length < 2 * threads) c.push(c[0]);
    return c;
  };
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  return function restore(): void {
    (globalThis as { Blob: unknown }).Blob = RealBlob;
    URL.createObjectURL = realCreate;
    os.cpus = realCpus;
  };
}

/** The number of CPUs this process may use (cgroup/affinity aware where Node knows it). */
export function availableCores(): number {
  const ap = (os as { availableParallelism?: () => number }).availableParallelism;
  return Math.max(1, typeof ap === 'function' ? ap() : os.cpus().length);
}
