/**
 * Shared machinery of the parametric reference denoisers: variables, save, frozen clones, and the
 * registry `loadDenoiser` reads.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import type { Conditioning, Denoiser, DenoiserConfig } from './denoiser.js';
import { ParamStore, type ParamSpec } from './nn.js';
import { encodeSafetensors, writeFileAtomic, type NamedArray } from './weights-file.js';

/** Options for building a parametric denoiser's variables. */
export interface ParamInitOptions {
  /** Initial values by parameter name (overrides random init). */
  values?: Record<string, tf.Tensor | NamedArray>;
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
    const tensors: Record<string, NamedArray> = {};
    const names = this.store.specs.map((s) => s.name);
    const datas = await Promise.all(names.map((n) => this.store.vars[n].data() as Promise<Float32Array>));
    names.forEach((n, i) => (tensors[n] = { data: datas[i], shape: [...this.store.vars[n].shape] }));
    await writeFileAtomic(join(dir, WEIGHTS_FILE), encodeSafetensors(tensors, { format: 'pt', prefkit_kind: this.config.kind }));
    await writeFileAtomic(join(dir, CONFIG_FILE), JSON.stringify(this.config, null, 2) + '\n');
  }

  /** Free every variable. */
  dispose(): void {
    this.store.dispose();
  }
}
