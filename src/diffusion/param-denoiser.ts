/**
 * Shared machinery of the parametric reference denoisers: variables, save, frozen clones, and the
 * registry `loadDenoiser` reads.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeSafetensors } from '../core/safetensors.js';
import type { Conditioning, Denoiser, DenoiserConfig } from './denoiser.js';
import { ParamStore, type ParamSpec } from './nn.js';

/** Options for building a parametric denoiser's variables. */
export interface ParamInitOptions {
  /** Initial values by parameter name (overrides random init). */
  values?: Record<string, tf.Tensor>;
  /** Whether the variables are trainable (default true). */
  trainable?: boolean;
}

/** File names inside a saved denoiser folder. */
export const WEIGHTS_FILE = 'model.safetensors';
/** The config file beside the weights. */
export const CONFIG_FILE = 'config.json';

/**
 * A denoiser whose parameters are a fixed list of named variables ({@link ParamSpec}s).
 * Subclasses supply the specs, the forward pass and how to rebuild themselves.
 */
export abstract class ParametricDenoiser<C extends DenoiserConfig> implements Denoiser {
  /** The parsed config (saved as `config.json`). */
  readonly config: C;
  /** The variables. */
  protected readonly store: ParamStore;

  protected constructor(config: C, specs: readonly ParamSpec[], seed: number | string, opts: ParamInitOptions = {}) {
    this.config = config;
    this.store = new ParamStore(specs, { seed, values: opts.values, trainable: opts.trainable, kind: config.kind });
  }

  /** Forward pass; see {@link Denoiser.predict}. */
  abstract predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor;

  /** Build another instance of the same class from a config and values. */
  protected abstract rebuild(opts: ParamInitOptions): ParametricDenoiser<C>;

  /** Trainable variables in a stable order (empty for a frozen copy). */
  get trainableVariables(): tf.Variable[] {
    return this.store.trainable ? this.store.list() : [];
  }

  /** Total number of scalar parameters. */
  get parameterCount(): number {
    return this.store.count();
  }

  /** The parameter specs (names in PyTorch `state_dict` order, tfjs shapes). */
  get parameterSpecs(): readonly ParamSpec[] {
    return this.store.specs;
  }

  /** Name → variable in a stable order (safetensors keys). */
  namedVariables(): Record<string, tf.Variable> {
    return { ...this.store.vars };
  }

  /** A deep copy with non-trainable variables; shares no tensor with this model. */
  cloneFrozen(): ParametricDenoiser<C> {
    return this.rebuild({ values: this.store.vars, trainable: false });
  }

  /** A deep, trainable copy. */
  clone(): ParametricDenoiser<C> {
    return this.rebuild({ values: this.store.vars, trainable: true });
  }

  /**
   * Write `model.safetensors` (F32, parameter order) and `config.json` into `dir`, each atomically.
   * @param dir - target folder (created if missing).
   */
  async save(dir: string): Promise<void> {
    await writeSafetensors(join(dir, WEIGHTS_FILE), this.store.vars, { format: 'pt', prefkit_kind: this.config.kind });
    await writeTextAtomic(join(dir, CONFIG_FILE), JSON.stringify(this.config, null, 2) + '\n');
  }

  /** Free every variable. */
  dispose(): void {
    this.store.dispose();
  }
}

/** Write a text file atomically (temporary file in the same folder, then rename). */
export async function writeTextAtomic(file: string, text: string): Promise<void> {
  await fs.mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  await fs.writeFile(tmp, text);
  await fs.rename(tmp, file);
}
