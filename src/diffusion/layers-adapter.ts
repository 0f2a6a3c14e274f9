/**
 * Adapter from a user's `tf.LayersModel` to the {@link Denoiser} contract.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { join } from 'node:path';
import { ConfigError, ShapeError } from '../errors.js';
import type { Conditioning, Denoiser, DenoiserConfig } from './denoiser.js';
import { writeSafetensors } from '../core/safetensors.js';
import { CONFIG_FILE, WEIGHTS_FILE, writeTextAtomic } from './param-denoiser.js';
import { registerDenoiserKind } from './registry.js';

/** What each model input is fed with, in the model's input order. */
export type LayersModelInput = 'xt' | 't' | 'pooled' | 'tokens';

/** Options of {@link layersModelDenoiser}. */
export interface LayersModelDenoiserOptions {
  /**
   * The model's inputs in order; default by input count: 1 → `['xt']`, 2 → `['xt', 't']`,
   * 3 → `['xt', 't', 'pooled']`. `t` is fed as `[B, 1]` float32.
   */
  inputs?: LayersModelInput[];
  /** Whether the model's weights are trainable (default: as the model says). */
  trainable?: boolean;
}

/** Config of an adapted LayersModel (its topology is saved beside the weights). */
export interface LayersModelDenoiserConfig extends DenoiserConfig {
  readonly kind: 'LayersModel';
  readonly inputs: LayersModelInput[];
}

class LayersModelDenoiser implements Denoiser {
  readonly config: LayersModelDenoiserConfig;
  private readonly frozen: boolean;
  constructor(
    readonly model: tf.LayersModel,
    inputs: LayersModelInput[],
    frozen: boolean,
  ) {
    this.config = { kind: 'LayersModel', inputs };
    this.frozen = frozen;
    if (frozen) model.trainable = false;
  }

  predict(xt: tf.Tensor, t: tf.Tensor, cond?: Conditioning): tf.Tensor {
    return tf.tidy(() => {
      const B = xt.shape[0];
      const feeds = this.config.inputs.map((k) => {
        switch (k) {
          case 'xt':
            return xt;
          case 't':
            return tf.reshape(tf.cast(t, 'float32'), [B, 1]);
          case 'pooled':
          case 'tokens': {
            const v = cond?.[k];
            if (!v) throw new ShapeError(`layersModelDenoiser: the model takes '${k}' conditioning, but cond.${k} is missing.`, { argument: `cond.${k}` });
            return v;
          }
          default: {
            const never: never = k;
            throw new ConfigError(`Unknown LayersModel input '${String(never)}'. Expected xt, t, pooled or tokens.`);
          }
        }
      });
      const out = this.model.apply(feeds.length === 1 ? feeds[0] : feeds, { training: true });
      if (Array.isArray(out)) throw new ShapeError('layersModelDenoiser: the model must have exactly one output.');
      return out as tf.Tensor;
    });
  }

  get trainableVariables(): tf.Variable[] {
    if (this.frozen) return [];
    return this.model.trainableWeights.map((w) => w.read() as tf.Variable);
  }

  namedVariables(): Record<string, tf.Variable> {
    const out: Record<string, tf.Variable> = {};
    for (const w of this.model.weights) out[w.originalName] = w.read() as tf.Variable;
    return out;
  }

  cloneFrozen(): Denoiser {
    return new LayersModelDenoiser(cloneLayersModel(this.model), this.config.inputs, true);
  }

  async save(dir: string): Promise<void> {
    const tensors: Record<string, tf.Tensor> = {};
    for (const w of this.model.weights) tensors[w.originalName] = w.read();
    await writeSafetensors(join(dir, WEIGHTS_FILE), tensors, { format: 'tfjs', prefkit_kind: 'LayersModel' });
    const topology = this.model.toJSON(null, false);
    await writeTextAtomic(join(dir, CONFIG_FILE), JSON.stringify({ ...this.config, topology }, null, 2) + '\n');
  }

  dispose(): void {
    this.model.dispose();
  }
}

/** A synchronous deep copy of a LayersModel (same class, config and weight values). */
function cloneLayersModel(model: tf.LayersModel): tf.LayersModel {
  const cls = model.constructor as unknown as {
    fromConfig: (c: unknown, config: tf.serialization.ConfigDict) => tf.LayersModel;
  };
  const copy = cls.fromConfig(model.constructor, model.getConfig() as tf.serialization.ConfigDict);
  copy.setWeights(model.getWeights());
  return copy;
}

/**
 * Wrap a `tf.LayersModel` as a {@link Denoiser}. The model maps its inputs (see
 * {@link LayersModelDenoiserOptions.inputs}) to one output shaped like `xt`.
 * @param model - the model (owned by the adapter from now on: `dispose()` frees it).
 * @param opts - input order and trainability.
 * @returns the denoiser; `save()` writes the topology into `config.json` and weights to safetensors.
 * @throws {ConfigError} when the inputs cannot be inferred.
 * @example
 * const x = tf.input({ shape: [8, 8, 3] }); const t = tf.input({ shape: [1] });
 * // ... build y from x and t ...
 * const denoiser = layersModelDenoiser(tf.model({ inputs: [x, t], outputs: y }));
 */
export function layersModelDenoiser(model: tf.LayersModel, opts: LayersModelDenoiserOptions = {}): Denoiser {
  const n = model.inputs.length;
  const inputs = opts.inputs ?? (n === 1 ? ['xt'] : n === 2 ? ['xt', 't'] : n === 3 ? ['xt', 't', 'pooled'] : null);
  if (!inputs || inputs.length !== n) {
    throw new ConfigError(`layersModelDenoiser: the model has ${n} inputs; pass opts.inputs naming each (xt, t, pooled, tokens), got ${inputs ? inputs.join(', ') : 'none'}.`);
  }
  if (opts.trainable !== undefined) model.trainable = opts.trainable;
  return new LayersModelDenoiser(model, inputs, false);
}

registerDenoiserKind('LayersModel', async (config, weights, { trainable }) => {
  const c = config as LayersModelDenoiserConfig & { topology?: unknown };
  if (!c.topology) throw new ConfigError('LayersModel config.json has no topology.');
  const model = (await tf.models.modelFromJSON({ modelTopology: c.topology } as tf.io.ModelJSON)) as tf.LayersModel;
  const values = model.weights.map((w) => {
    const v = weights[w.originalName];
    if (!v) throw new ConfigError(`LayersModel weights lack '${w.originalName}'.`);
    return v;
  });
  model.setWeights(values);
  const d = layersModelDenoiser(model, { inputs: c.inputs });
  if (!trainable) {
    const frozen = d.cloneFrozen();
    d.dispose();
    return frozen;
  }
  return d;
});
