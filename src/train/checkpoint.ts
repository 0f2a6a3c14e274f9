/**
 * Checkpoints: weights, optimizer state, step, RNG state, data cursor and config, written into a
 * temporary directory and renamed into place (atomic on one filesystem), keeping the last K.
 *
 * Layout of `<outputDir>/checkpoints/step-000120/`:
 * - `model.safetensors` + `config.json`: the policy (same layout as `Denoiser.save`);
 * - `optimizer.safetensors`: AdamW moments `m`, `v` (flat, F32);
 * - `trainer-state.json`: step, skipped steps, RNG state, optimizer step, data cursor, trainer config.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { readSafetensors, writeSafetensors } from '../core/safetensors.js';
import { CheckpointError, isPrefkitError, parseWithSchema } from '../errors.js';
import type { PreferenceTrainer } from './loop.js';

/** Name of the state file inside a checkpoint directory. */
export const TRAINER_STATE_FILE = 'trainer-state.json';

const trainerStateSchema = z.object({
  format: z.literal('prefkit-checkpoint'),
  version: z.literal(1),
  step: z.number().int().min(0),
  nonFiniteSteps: z.number().int().min(0),
  rng: z.object({ algorithm: z.literal('xoshiro128**'), s: z.tuple([z.number(), z.number(), z.number(), z.number()]) }),
  optimizerStep: z.number().min(0),
  parameterCount: z.number().int().positive(),
  variables: z.array(z.string()),
  dataCursor: z.unknown(),
  config: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
});

/** Contents of `trainer-state.json`. */
export type TrainerCheckpointState = z.infer<typeof trainerStateSchema>;

/** Directory name for a step: `step-000120`. */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(6, '0')}`;
}

/**
 * The checkpoint directories under `dir`, oldest first.
 * @param dir - a `checkpoints/` directory.
 * @returns absolute paths of `step-*` directories sorted by step (temporary ones excluded).
 */
export async function listCheckpoints(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^step-\d+$/.test(n))
    .sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)))
    .map((n) => path.resolve(dir, n));
}

/**
 * The newest checkpoint under `dir`, or null.
 * @param dir - a `checkpoints/` directory, or a run's outputDir (its `checkpoints/` is searched).
 */
export async function latestCheckpoint(dir: string): Promise<string | null> {
  let list = await listCheckpoints(dir);
  if (list.length === 0) list = await listCheckpoints(path.join(dir, 'checkpoints'));
  return list.length ? list[list.length - 1] : null;
}

/**
 * Write a checkpoint of `trainer` atomically: everything goes into `.step-N.tmp-<pid>` first, then
 * one rename publishes it; older checkpoints beyond `keepLastCheckpoints` are removed afterwards.
 * @param trainer - the trainer (its policy, optimizer, RNG, data cursor, config).
 * @param dir - the `checkpoints/` directory (default `<outputDir>/checkpoints`).
 * @returns the checkpoint directory.
 * @throws {CheckpointError} when there is no directory to write to or writing fails.
 */
export async function saveCheckpoint(trainer: PreferenceTrainer, dir?: string): Promise<string> {
  const root = dir ?? (trainer.config.outputDir ? path.join(trainer.config.outputDir, 'checkpoints') : undefined);
  if (!root) throw new CheckpointError('saveCheckpoint: no directory given and the trainer config has no outputDir.');
  const progress = trainer.getProgress();
  const name = checkpointName(progress.step);
  const final = path.resolve(root, name);
  const tmp = path.resolve(root, `.${name}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  try {
    await fsp.mkdir(tmp, { recursive: true });
    const named = trainer.policy.namedVariables();
    await writeSafetensors(path.join(tmp, 'model.safetensors'), named as Record<string, tf.Tensor>);
    await fsp.writeFile(path.join(tmp, 'config.json'), JSON.stringify(trainer.policy.config, null, 2));
    const opt = await trainer.optimizer.getState();
    const m = tf.tensor1d(opt.m);
    const v = tf.tensor1d(opt.v);
    try {
      await writeSafetensors(path.join(tmp, 'optimizer.safetensors'), { m, v }, { step: String(opt.step) });
    } finally {
      tf.dispose([m, v]);
    }
    const state: TrainerCheckpointState = {
      format: 'prefkit-checkpoint',
      version: 1,
      step: progress.step,
      nonFiniteSteps: progress.nonFiniteSteps,
      rng: { algorithm: progress.rng.algorithm, s: [...progress.rng.s] as [number, number, number, number] },
      optimizerStep: opt.step,
      parameterCount: trainer.optimizer.size,
      variables: Object.keys(named),
      dataCursor: trainer.data.getState(),
      config: trainer.config as unknown as Record<string, unknown>,
      createdAt: new Date().toISOString(),
    };
    await fsp.writeFile(path.join(tmp, TRAINER_STATE_FILE), JSON.stringify(state, null, 2));
    await fsp.rm(final, { recursive: true, force: true });
    await fsp.rename(tmp, final);
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true }).catch(() => {});
    if (isPrefkitError(e)) throw e;
    throw new CheckpointError(`Cannot write checkpoint ${final}: ${(e as Error).message}`, { path: final, cause: e });
  }
  const all = await listCheckpoints(root);
  const excess = all.length - trainer.config.keepLastCheckpoints;
  for (let i = 0; i < excess; i++) await fsp.rm(all[i], { recursive: true, force: true });
  await removeStaleTemps(root);
  return final;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove temp folders left by writers that died mid-write (their process is gone). */
async function removeStaleTemps(root: string): Promise<void> {
  for (const name of await fsp.readdir(root)) {
    const m = /^\.step-\d+\.tmp-(\d+)-/.exec(name);
    if (m && Number(m[1]) !== process.pid && !processAlive(Number(m[1]))) {
      await fsp.rm(path.join(root, name), { recursive: true, force: true });
    }
  }
}

/**
 * Read and validate a checkpoint's `trainer-state.json`.
 * @param dir - a checkpoint directory.
 * @throws {CheckpointError} when it is missing or malformed.
 */
export async function readCheckpointState(dir: string): Promise<TrainerCheckpointState> {
  let raw: unknown;
  try {
    raw = JSON.parse(await fsp.readFile(path.join(dir, TRAINER_STATE_FILE), 'utf8'));
  } catch (e) {
    throw new CheckpointError(`${dir} is not a prefkit checkpoint: cannot read ${TRAINER_STATE_FILE} (${(e as Error).message}).`, { path: dir, cause: e });
  }
  try {
    return parseWithSchema(trainerStateSchema, raw, path.join(dir, TRAINER_STATE_FILE));
  } catch (e) {
    throw new CheckpointError((e as Error).message, { path: dir, cause: e });
  }
}

/**
 * Restore `trainer` from a checkpoint: weights, optimizer moments and step, RNG, skipped-step count
 * and data cursor, so that training continues exactly as if never stopped.
 * @param trainer - a trainer built with the same model shape, loss and data.
 * @param dir - a checkpoint directory, or a run/checkpoints directory (its newest checkpoint is used).
 * @returns the step restored.
 * @throws {CheckpointError} when the checkpoint is missing, malformed or does not match the model.
 */
export async function loadCheckpoint(trainer: PreferenceTrainer, dir: string): Promise<number> {
  let ckpt = dir;
  try {
    await fsp.access(path.join(dir, TRAINER_STATE_FILE));
  } catch {
    const latest = await latestCheckpoint(dir);
    if (!latest) throw new CheckpointError(`No checkpoint found at ${dir} (expected ${TRAINER_STATE_FILE} or step-* directories).`, { path: dir });
    ckpt = latest;
  }
  const state = await readCheckpointState(ckpt);
  if (state.parameterCount !== trainer.optimizer.size) {
    throw new CheckpointError(
      `Checkpoint ${ckpt} holds ${state.parameterCount} parameters; the model has ${trainer.optimizer.size}. Build the same model configuration to resume.`,
      { path: ckpt },
    );
  }
  const named = trainer.policy.namedVariables();
  const weights = await readSafetensors(path.join(ckpt, 'model.safetensors'), { names: Object.keys(named) });
  const opt = await readSafetensors(path.join(ckpt, 'optimizer.safetensors'));
  try {
    for (const [k, v] of Object.entries(named)) {
      const t = weights.tensors[k];
      if (t.shape.join() !== v.shape.join()) {
        throw new CheckpointError(`Checkpoint weight "${k}" has shape [${t.shape.join(', ')}], the model has [${v.shape.join(', ')}].`, { path: ckpt });
      }
      v.assign(t);
    }
    const m = opt.tensors.m;
    const vv = opt.tensors.v;
    if (!m || !vv) throw new CheckpointError(`${ckpt}/optimizer.safetensors lacks the moments "m" and "v".`, { path: ckpt });
    trainer.optimizer.setState({ step: state.optimizerStep, m: (await m.data()) as Float32Array, v: (await vv.data()) as Float32Array });
  } finally {
    tf.dispose([...Object.values(weights.tensors), ...Object.values(opt.tensors)]);
  }
  trainer.setProgress({ step: state.step, nonFiniteSteps: state.nonFiniteSteps, rng: state.rng });
  trainer.data.setState(state.dataCursor as never);
  return state.step;
}
