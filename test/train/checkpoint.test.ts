import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isCheckpointError } from '../../src/errors.js';
import { latestCheckpoint, listCheckpoints, readCheckpointState, readMetricsFile } from '../../src/train/index.js';
import { resumeSetup } from './fixtures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(path.join(tmpdir(), 'prefkit-ckpt-'));

beforeAll(async () => {
  await tf.setBackend('wasm');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run the child until it has printed `STEP 7` after its step-5 checkpoint, then SIGKILL it. */
function runChildAndKill(outDir: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/train/resume-child.ts', outDir], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    let buf = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      const parts = buf.split('\n');
      buf = parts.pop() ?? '';
      for (const l of parts) {
        lines.push(l);
        if (l === 'STEP 7') child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve(lines);
      else reject(new Error(`child exited with ${code} before it was killed: ${lines.join(' | ')} ${stderr.slice(-2000)}`));
    });
  });
}

describe('checkpoints and resume', () => {
  it('10 steps straight equal 5 steps, a killed process, and 5 more after resume', async () => {
    // straight run, no checkpoints
    const straight = resumeSetup(undefined);
    await straight.trainer.train();
    const want = straight.policy.flatWeights();
    straight.trainer.dispose();
    straight.policy.dispose();

    const outDir = path.join(work, 'run');
    const lines = await runChildAndKill(outDir);
    expect(lines).toContain('CHECKPOINT 5');
    expect(lines).not.toContain('FINISHED');
    const ckpts = await listCheckpoints(path.join(outDir, 'checkpoints'));
    expect(ckpts.map((p) => path.basename(p))).toEqual(['step-000005']);
    const state = await readCheckpointState(ckpts[0]);
    expect(state).toMatchObject({ step: 5, optimizerStep: 5, nonFiniteSteps: 0, dataCursor: { cursor: 20 % 6, calls: 10 } });
    // the killed child had logged step 6 past its checkpoint: resume drops that line
    expect((await readMetricsFile(path.join(outDir, 'metrics.jsonl'))).map((r) => r.step)).toEqual([3, 5, 6]);

    const resumed = resumeSetup(outDir);
    const from = await resumed.trainer.resume(outDir);
    expect(from).toBe(5);
    const events: string[] = [];
    await resumed.trainer.train((e) => {
      events.push(`${e.type}:${e.step}`);
    });
    expect(events[0]).toBe('step:6');
    expect(events.slice(-2)).toEqual(['checkpoint:10', 'done:10']);
    const got = resumed.policy.flatWeights();
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    expect(maxDiff).toBeLessThan(1e-6);
    expect(Math.abs(got[0] - resumeSetupInitialFirstWeight())).toBeGreaterThan(0);
    // keepLastCheckpoints = 1: only step 10 remains; metrics lines continue without duplicates
    expect((await listCheckpoints(path.join(outDir, 'checkpoints'))).map((p) => path.basename(p))).toEqual(['step-000010']);
    const steps = (await readMetricsFile(path.join(outDir, 'metrics.jsonl'))).map((r) => r.step);
    expect(steps).toEqual([3, 5, 6, 9, 10]);
    expect(readdirSync(path.join(outDir, 'checkpoints')).filter((n) => n.includes('.tmp'))).toEqual([]);
    // a temp folder of a writer that died is removed by the next checkpoint write
    const deadPid = 2 ** 22 + 12345; // above Linux's default pid_max: never a live process
    mkdirSync(path.join(outDir, 'checkpoints', `.step-000011.tmp-${deadPid}-zz`));
    await resumed.trainer.saveCheckpoint();
    expect(readdirSync(path.join(outDir, 'checkpoints'))).toEqual(['step-000010']);
    resumed.trainer.dispose();
    resumed.policy.dispose();
  });

  it('rejects a checkpoint from another model with a CheckpointError naming both sizes', async () => {
    const outDir = path.join(work, 'run');
    const ck = await latestCheckpoint(outDir);
    expect(ck).not.toBeNull();
    const statePath = path.join(ck as string, 'trainer-state.json');
    const s = JSON.parse(readFileSync(statePath, 'utf8'));
    s.parameterCount = 3;
    const bad = path.join(work, 'bad', 'step-000001');
    rmSync(bad, { recursive: true, force: true });
    await import('node:fs/promises').then((f) => f.cp(ck as string, bad, { recursive: true }));
    writeFileSync(path.join(bad, 'trainer-state.json'), JSON.stringify(s));
    const r = resumeSetup(undefined);
    const err = await r.trainer.resume(bad).catch((e: unknown) => e);
    expect(isCheckpointError(err)).toBe(true);
    expect((err as Error).message).toMatch(/holds 3 parameters; the model has \d+/);
    // a half-written checkpoint (a process killed mid-write leaves only its temp folder) is never picked
    mkdirSync(path.join(work, 'bad', '.step-000009.tmp-123-abc'), { recursive: true });
    expect(path.basename((await latestCheckpoint(path.join(work, 'bad'))) as string)).toBe('step-000001');
    const missing = await r.trainer.resume(path.join(work, 'nowhere')).catch((e: unknown) => e);
    expect((missing as Error).message).toMatch(/No checkpoint found/);
    expect(existsSync(path.join(work, 'nowhere'))).toBe(false);
    r.trainer.dispose();
    r.policy.dispose();
  });
});

function resumeSetupInitialFirstWeight(): number {
  const r = resumeSetup(undefined);
  const w = r.policy.flatWeights()[0];
  r.trainer.dispose();
  r.policy.dispose();
  return w;
}
