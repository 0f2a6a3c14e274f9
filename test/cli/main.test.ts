import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initEngine } from '../../src/core/index.js';
import { TinyUNet } from '../../src/diffusion/index.js';
import { runCli } from '../../src/cli/main.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const work = mkdtempSync(path.join(tmpdir(), 'prefkit-cli-'));
// `--import tsx` resolves from the working directory; the runs below work in a temp folder
const tsxLoader = pathToFileURL(path.join(root, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], cwd = work): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsxLoader, path.join(root, 'src/cli/main.ts'), ...args], {
      cwd,
      env: { ...process.env, PREFKIT_DEBUG: '', PREFKIT_BACKEND: 'wasm' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run the CLI in this process (same code path as the binary, minus process start-up), capturing output. */
async function cliInProcess(args: string[]): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const out = process.stdout.write.bind(process.stdout);
  const err = process.stderr.write.bind(process.stderr);
  const cwd = process.cwd();
  process.stdout.write = ((c: string | Uint8Array) => ((stdout += c.toString()), true)) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => ((stderr += c.toString()), true)) as typeof process.stderr.write;
  process.chdir(work);
  try {
    process.exitCode = undefined;
    const code = await runCli(['node', 'prefkit', ...args]);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = out;
    process.stderr.write = err;
    process.chdir(cwd);
    process.exitCode = undefined;
  }
}

/** One readable message: no stack frames. */
function expectNoStack(r: Run): void {
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.stderr).not.toMatch(/node:internal|\.ts:\d+:\d+/);
}

const runYaml = (extra = '') => `# a tiny run
model: { dir: ./model }
schedule: { num_train_timesteps: 100 }
data: { manifest: pairs.jsonl, size: 8 }
trainer:
  maxSteps: 3
  batchSize: 2
  logEvery: 1
  checkpointEvery: 2
  loss: { name: diffusion-dpo, options: { beta: 500 } }
  optimizer: { lr: 0.001 }
${extra}`;

beforeAll(async () => {
  await initEngine({ backend: 'wasm' });
  mkdirSync(path.join(work, 'img'));
  const lines: string[] = [];
  for (let i = 0; i < 4; i++) {
    for (const side of ['a', 'b']) {
      const px = Buffer.alloc(8 * 8 * 3, side === 'a' ? 40 * i : 255 - 40 * i);
      await sharp(px, { raw: { width: 8, height: 8, channels: 3 } }).png().toFile(path.join(work, 'img', `${i}${side}.png`));
    }
    lines.push(JSON.stringify({ prompt: `shape ${i}`, chosen: `img/${i}a.png`, rejected: `img/${i}b.png` }));
  }
  writeFileSync(path.join(work, 'pairs.jsonl'), lines.join('\n') + '\n');
  const unet = new TinyUNet({ inChannels: 3, channels: [8, 16], groups: 4, embedDim: 16, timeFeatures: 8, pooledDim: 0, seed: 1 });
  await unet.save(path.join(work, 'model'));
  unet.dispose();
  writeFileSync(path.join(work, 'run.yaml'), runYaml());
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('prefkit CLI', () => {
  it('trains from a YAML run file, writing metrics, checkpoints and charts; eval and sample use the checkpoint', async () => {
    const r = await cli(['train', '--config', 'run.yaml', '--output', 'out', '--no-progress']);
    expect(r.stderr).toContain('done at step 3 (completed)');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) as string);
    expect(summary).toMatchObject({ step: 3, reason: 'completed', outputDir: 'out' });
    expect(summary.metrics.loss).toBeGreaterThan(0);
    const metrics = readFileSync(path.join(work, 'out', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => m.step)).toEqual([1, 2, 3]);
    expect(readdirSync(path.join(work, 'out', 'checkpoints')).sort()).toEqual(['step-000002', 'step-000003']);
    expect(readdirSync(path.join(work, 'out', 'charts')).sort()).toEqual(['loss.png', 'rewards_accuracies.png', 'rewards_margins.png']);

    const resumed = await cli(['train', '--config', 'run.yaml', '--output', 'out', '--steps', '4', '--resume', '--no-progress', '--no-charts']);
    expect(resumed.code).toBe(0);
    expect(resumed.stderr).toContain('resumed from step 3');
    expect(JSON.parse(resumed.stdout.trim().split('\n').at(-1) as string).step).toBe(4);

    const [ev, smp] = await Promise.all([
      cli(['eval', '--config', 'run.yaml', '--model', 'out/checkpoints/step-000004', '--batches', '2']),
      cli(['sample', '--model', 'out/checkpoints/step-000004', '--size', '8x8x3', '-n', '2', '--steps', '3', '--out', 'grid.png']),
    ]);
    expect(ev.code).toBe(0);
    const evOut = JSON.parse(ev.stdout);
    expect(evOut.pairs).toBe(4);
    expect(evOut.metrics['rewards/accuracies']).toBeGreaterThanOrEqual(0);
    expect(Number.isFinite(evOut.metrics.loss)).toBe(true);
    expect(smp.code).toBe(0);
    const meta = await sharp(path.join(work, 'grid.png')).metadata();
    expect(meta.width).toBeGreaterThan(16);
  });

  it('answers --help for the program and every command', async () => {
    const spawned = await cli(['--help']);
    expect(spawned.code).toBe(0);
    expect(spawned.stdout).toMatch(/^Usage: prefkit/);
    for (const c of ['train', 'sample', 'eval', 'label', 'preprocess', 'demo']) expect(spawned.stdout).toContain(`  ${c} `);
    for (const c of [['train'], ['sample'], ['eval'], ['label'], ['preprocess'], ['demo']]) {
      const r = await cliInProcess([...c, '--help']);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`^Usage: prefkit ${c[0]}`));
    }
    expect((await cliInProcess(['train', '--help'])).stdout).toContain('--config <file>');
  });

  it('reports bad configs and flags in one readable message with a non-zero exit', async () => {
    writeFileSync(path.join(work, 'bad-key.yaml'), runYaml('  learningRate: 0.1\n'));
    writeFileSync(path.join(work, 'bad-yaml.yaml'), 'model: { dir: ./model\ntrainer: [\n');
    writeFileSync(path.join(work, 'bad-loss.yaml'), runYaml().replace('diffusion-dpo', 'dpo-typo'));
    writeFileSync(path.join(work, 'bad-option.yaml'), runYaml().replace('beta: 500', 'beta: -1'));
    writeFileSync(path.join(work, 'bad-type.json'), JSON.stringify({ model: { dir: 'm' }, data: { manifest: 'p', size: 8 }, trainer: { maxSteps: 'ten' } }));
    const cases: [string[], RegExp][] = [
      [['train', '--config', 'bad-key.yaml'], /Invalid run file bad-key\.yaml:\n {2}- trainer: Unrecognized key: "learningRate"/],
      [['train', '--config', 'bad-yaml.yaml'], /Config file bad-yaml\.yaml is not valid YAML at line \d+, column \d+/],
      [['train', '--config', 'bad-loss.yaml'], /trainer\.loss: Unknown loss "dpo-typo"\. Expected one of: diffusion-dpo, /],
      [['train', '--config', 'bad-option.yaml'], /trainer\.loss: .*beta/s],
      [['train', '--config', 'bad-type.json'], /trainer\.maxSteps: Invalid input: expected number, received string/],
      [['train', '--config', 'missing.yaml'], /Cannot read config file missing\.yaml: no such file/],
      [['train', '--config', 'run.yaml', '--steps', '0'], /option '--steps <n>' argument '0' is invalid\. Expected a positive integer, got "0"\./],
      [['train', '--config', 'run.yaml', '--lr', '1'], /unknown option '--lr'/],
      [['--backend', 'gpu', 'train'], /argument 'gpu' is invalid\. Allowed choices are auto, wasm, cpu, tensorflow/],
      [['sample', '--model', 'm', '--size', '8x8x4'], /--size has 4 channels: images need 1 or 3, so pass --decoder/],
    ];
    // three through a real process, the rest in-process (same parsing and reporting, no start-up cost)
    const spawnedIdx = [1, 2, 6];
    const runs: Run[] = [];
    for (const [i, [args]] of cases.entries()) if (!spawnedIdx.includes(i)) runs[i] = await cliInProcess(args);
    const spawned = await Promise.all(spawnedIdx.map((i) => cli(cases[i][0])));
    spawnedIdx.forEach((i, k) => (runs[i] = spawned[k]));
    runs.forEach((r, i) => {
      expect(r.stderr, cases[i][0].join(' ')).toMatch(cases[i][1]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/^prefkit/);
      expectNoStack(r);
      expect(existsSync(path.join(work, 'runs'))).toBe(false);
    });
  });
});
