/**
 * After initEngine starts the wasm backend, an uncaught error in the user's program must be
 * reported by Node as usual. The Emscripten module of tfjs-backend-wasm adds process
 * 'uncaughtException' / 'unhandledRejection' listeners that rethrow, so Node printed its whole
 * minified source (40–60 KB) before the message and exited with code 7; initEngine removes them.
 * Each case runs a small script in a child process (its own pool and listeners).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const engineUrl = pathToFileURL(path.join(root, 'src/core/engine.ts')).href;
const dir = mkdtempSync(path.join(os.tmpdir(), 'prefkit-uncaught-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function runScript(name: string, body: string): Promise<{ code: number | null; stderr: string; stdout: string }> {
  const file = path.join(dir, `${name}.mts`);
  writeFileSync(file, `import { initEngine } from ${JSON.stringify(engineUrl)};\n${body}\n`);
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.PREFKIT_THREADS;
    delete env.PREFKIT_BACKEND;
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr, stdout });
    });
  });
}

describe('uncaught errors after initEngine (wasm)', () => {
  it.each([
    ['threaded SIMD binary, throw at top level', 2, "throw new Error('boom-top-level-7f3a');", 'boom-top-level-7f3a'],
    ['single-thread SIMD binary, throw in a timer', 1, "setTimeout(() => { throw new Error('boom-timer-91c2'); }, 5);", 'boom-timer-91c2'],
    ['single-thread SIMD binary, unhandled rejection', 1, "void Promise.reject(new Error('boom-rejection-4d0e'));", 'boom-rejection-4d0e'],
  ])('%s: short Node stack trace, non-zero exit', async (_label, threads, body, message) => {
    const r = await runScript(`case-${threads}-${message}`, `const info = await initEngine({ backend: 'wasm', threads: ${threads} });\nconsole.log('threads=' + info.threads + ' listeners=' + process.listenerCount('uncaughtException') + ',' + process.listenerCount('unhandledRejection'));\n${body}`);
    expect(r.stdout).toContain(`threads=${threads} listeners=0,0`);
    expect(r.stderr).toContain(message);
    expect(r.stderr.length).toBeLessThan(5000);
    expect(r.stderr).not.toContain('GROWABLE_HEAP');
    expect(r.code).not.toBe(0);
    expect(r.code).not.toBeNull();
  }, 90_000);

  it('a script that ends normally still exits with code 0', async () => {
    const r = await runScript('ok', "const info = await initEngine({ backend: 'wasm', threads: 2 });\nconsole.log('ok ' + info.threads);");
    expect(r.stdout).toContain('ok 2');
    expect(r.code).toBe(0);
  }, 90_000);
});
