/**
 * The demo's tiny text encoder: a token embedding table over the world's vocabulary, mean-pooled
 * into one conditioning vector per prompt.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { createRng } from '../core/random.js';
import { readSafetensors, writeSafetensors } from '../core/safetensors.js';
import type { Conditioning } from '../diffusion/denoiser.js';
import { CheckpointError, ConfigError } from '../errors.js';
import { COLOUR_NAMES, WORLD_SHAPES } from './world.js';

/** The world's vocabulary: `<unk>`, `a`, then the colours and shapes. */
export const DEMO_VOCAB: readonly string[] = ['<unk>', 'a', ...COLOUR_NAMES, ...WORLD_SHAPES];

/** A frozen bag-of-words text encoder: `pooled = mean of token embeddings`. */
export class TinyTextEncoder {
  /** Embedding width D. */
  readonly dim: number;
  /** The vocabulary (index = row of the table). */
  readonly vocab: readonly string[];
  /** `[V, D]` embedding table. */
  readonly table: tf.Tensor2D;
  /**
   * @param table - `[V, D]` embeddings, rows in `vocab` order (kept; disposed by {@link dispose}).
   * @param vocab - the words (default {@link DEMO_VOCAB}).
   * @throws {ConfigError} when the table's rows do not match the vocabulary.
   */
  constructor(table: tf.Tensor2D, vocab: readonly string[] = DEMO_VOCAB) {
    if (table.rank !== 2 || table.shape[0] !== vocab.length) {
      throw new ConfigError(`TinyTextEncoder: table must be [${vocab.length}, D] for a vocabulary of ${vocab.length} words, got [${table.shape.join(', ')}].`);
    }
    this.table = table;
    this.vocab = vocab;
    this.dim = table.shape[1];
  }

  /**
   * A new encoder with seeded N(0, 1) embeddings.
   * @param seed - RNG seed. @param dim - embedding width (default 32).
   */
  static random(seed: number | string, dim = 32): TinyTextEncoder {
    const rng = createRng(seed);
    return new TinyTextEncoder(tf.tensor2d(rng.normalArray(DEMO_VOCAB.length * dim), [DEMO_VOCAB.length, dim]));
  }

  /** Token ids of a prompt (lower-cased, split on spaces; unknown words map to `<unk>`). */
  tokenize(prompt: string): number[] {
    const words = prompt.trim().toLowerCase().split(/\s+/).filter(Boolean);
    return words.map((w) => Math.max(0, this.vocab.indexOf(w)));
  }

  /**
   * Encode prompts.
   * @param prompts - B prompts.
   * @returns `{ pooled: [B, D] }` (the caller owns it).
   * @throws {ConfigError} for an empty prompt list.
   */
  encode(prompts: readonly string[]): Conditioning {
    if (prompts.length === 0) throw new ConfigError('TinyTextEncoder.encode: no prompts given.');
    return tf.tidy(() => {
      const rows = prompts.map((p) => {
        const ids = this.tokenize(p);
        if (ids.length === 0) return tf.zeros([this.dim]);
        return tf.mean(tf.gather(this.table, tf.tensor1d(ids, 'int32')), 0);
      });
      return { pooled: tf.stack(rows) };
    });
  }

  /** Write the table to a safetensors file (`embeddings`, vocabulary in metadata). */
  async save(file: string): Promise<void> {
    await writeSafetensors(file, { embeddings: this.table }, { vocab: JSON.stringify(this.vocab), kind: 'TinyTextEncoder' });
  }

  /**
   * Load an encoder written by {@link save}.
   * @throws {CheckpointError} when the file lacks `embeddings` or a vocabulary.
   */
  static async load(file: string): Promise<TinyTextEncoder> {
    const { tensors, metadata } = await readSafetensors(file);
    const t = tensors['embeddings'];
    if (!t || !metadata['vocab']) {
      tf.dispose(Object.values(tensors));
      throw new CheckpointError(`${file} is not a TinyTextEncoder file: expected tensor "embeddings" and metadata "vocab".`, { path: file });
    }
    return new TinyTextEncoder(t as tf.Tensor2D, JSON.parse(metadata['vocab']) as string[]);
  }

  /** Free the table. */
  dispose(): void {
    this.table.dispose();
  }
}
