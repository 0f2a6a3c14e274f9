/**
 * The backend ladder with the optional packages (@tensorflow/tfjs-node, -gpu) absent, as on
 * this machine, plus simulated installs through the importer test hook.
 */
import * as tf from '@tensorflow/tfjs';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import os from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { engineTestHooks, getEngineInfo, initEngine } from '../../src/core/engine.js';
import { BackendError, ConfigError, isBackendError } from '../../src/errors.js';

const realImport = (s: string) => import(s);

afterEach(() => {
  delete process.env.PREFKIT_BACKEND;
  delete process.env.PREFKIT_THREADS;
  engineTestHooks.setImporter(null);
});

describe('initEngine', () => {
  it('does nothing at import time', () => {
    expect(getEngineInfo()).toBeNull();
    expect(tf.findBackend('wasm')).toBeFalsy();
  });

  it("'tensorflow' without tfjs-node installed: BackendError naming the packages to install", async () => {
    const err = await initEngine({ backend: 'tensorflow' }).catch((e: unknown) => e);
    expect(isBackendError(err)).toBe(true);
    const be = err as BackendError;
    expect(be.code).toBe('BACKEND_UNAVAILABLE');
    expect(be.backend).toBe('tensorflow');
    expect(be.packageName).toBe('@tensorflow/tfjs-node');
    expect(be.message).toContain('@tensorflow/tfjs-node-gpu is not installed');
    expect(be.message).toContain('@tensorflow/tfjs-node is not installed');
    expect(be.message).toContain('npm install @tensorflow/tfjs-node@4.22.0');
  });

  it("'auto' falls through tfjs-node-gpu and tfjs-node to wasm, and says why", async () => {
    const info = await initEngine({ threads: 1 });
    expect(info.backend).toBe('wasm');
    expect(info.requested).toBe('auto');
    expect(info.source).toBe('default');
    expect(info.simd).toBe(true);
    expect(info.threads).toBe(1);
    expect(info.notes).toEqual(['@tensorflow/tfjs-node-gpu is not installed', '@tensorflow/tfjs-node is not installed']);
    expect(info.kernels).toEqual([
      'Conv2DBackpropFilter',
      'Conv2DBackpropInput',
      'DepthwiseConv2dNativeBackpropFilter',
      'DepthwiseConv2dNativeBackpropInput',
      'UnsortedSegmentSum',
      'Slice',
      'SplitV',
      'Tile',
      'BatchMatMul',
      '_FusedMatMul',
      'Identity',
      'Sum',
      'Mean',
    ]);
    expect(tf.getBackend()).toBe('wasm');
    expect(getEngineInfo()).toBe(info);
  });

  it('is idempotent: the same request returns the same info without restarting', async () => {
    const a = await initEngine({ backend: 'wasm', threads: 1 });
    const t0 = performance.now();
    const b = await initEngine({ backend: 'wasm', threads: 1 });
    expect(b).toBe(a);
    expect(performance.now() - t0).toBeLessThan(5);
    const [c, d] = await Promise.all([initEngine({ backend: 'cpu' }), initEngine({ backend: 'cpu' })]);
    expect(c).toBe(d);
  });

  it('switches backend on a different request and reports a fixed wasm pool size', async () => {
    const cpu = await initEngine({ backend: 'cpu' });
    expect(cpu.backend).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const w = await initEngine({ backend: 'wasm', threads: 3 });
    expect(w.backend).toBe('wasm');
    expect(w.threads).toBe(1);
    expect(w.notes.join(' ')).toContain('already started with 1 thread(s)');
  });

  it('defaults threads to the idle cores and says so when the machine is loaded', async () => {
    const spy = vi.spyOn(os, 'loadavg').mockReturnValue([64, 64, 64]);
    try {
      const info = await initEngine({ backend: 'wasm' });
      expect(info.threads).toBe(1);
      expect(info.notes[0]).toMatch(/^threads defaulted to 1 of \d+ cores: the 1-minute load average is 64\.0 \(pass threads or PREFKIT_THREADS to override\)$/);
      process.env.PREFKIT_THREADS = '1';
      expect((await initEngine({ backend: 'wasm' })).notes).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });

  it('PREFKIT_BACKEND overrides the option', async () => {
    process.env.PREFKIT_BACKEND = 'cpu';
    const info = await initEngine({ backend: 'wasm' });
    expect(info.backend).toBe('cpu');
    expect(info.source).toBe('env');
    expect(tf.getBackend()).toBe('cpu');
    process.env.PREFKIT_BACKEND = 'tensorflow';
    await expect(initEngine({ backend: 'wasm' })).rejects.toBeInstanceOf(BackendError);
  });

  it('rejects unknown names and bad thread counts with ConfigError', async () => {
    process.env.PREFKIT_BACKEND = 'gpu';
    await expect(initEngine()).rejects.toThrowErrorMatchingInlineSnapshot(
      `[ConfigError: PREFKIT_BACKEND='gpu' is not a backend. Expected one of: auto, tensorflow, wasm, cpu.]`,
    );
    delete process.env.PREFKIT_BACKEND;
    await expect(initEngine({ backend: 'webgl' as never })).rejects.toBeInstanceOf(ConfigError);
    await expect(initEngine({ backend: 'wasm', threads: 0 })).rejects.toBeInstanceOf(ConfigError);
    process.env.PREFKIT_THREADS = 'two';
    await expect(initEngine({ backend: 'wasm' })).rejects.toThrow(/PREFKIT_THREADS='two'/);
  });

  it('prefers tfjs-node-gpu, then tfjs-node, when installed (simulated)', async () => {
    const imported: string[] = [];
    if (!tf.findBackend('tensorflow')) tf.registerBackend('tensorflow', () => new MathBackendCPU(), 0);
    engineTestHooks.setImporter(async (s) => {
      imported.push(s);
      if (s === '@tensorflow/tfjs-node-gpu') {
        const e = new Error("Cannot find module 'x' (libcudart.so.11.0: cannot open shared object file)") as Error & { code: string };
        e.code = 'ERR_DLOPEN_FAILED';
        throw e;
      }
      if (s === '@tensorflow/tfjs-node') return {};
      return realImport(s);
    });
    const info = await initEngine({ backend: 'auto' });
    expect(imported).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
    expect(info.backend).toBe('tensorflow');
    expect(info.packageName).toBe('@tensorflow/tfjs-node');
    expect(info.gpu).toBe(false);
    expect(info.notes[0]).toMatch(/^@tensorflow\/tfjs-node-gpu is installed but failed to load \(.*libcudart/);
    expect(tf.getBackend()).toBe('tensorflow');

    engineTestHooks.setImporter(async (s) => (s.startsWith('@tensorflow/tfjs-node') ? {} : realImport(s)));
    const gpu = await initEngine({ backend: 'tensorflow' });
    expect(gpu.packageName).toBe('@tensorflow/tfjs-node-gpu');
    expect(gpu.gpu).toBe(true);
    tf.removeBackend('tensorflow');
  });
});
