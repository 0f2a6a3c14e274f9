/**
 * The demo's tiny autoencoder: a linear patch autoencoder (PCA of p×p RGB patches), so the
 * diffusion model works on small latents as Stable Diffusion's does on VAE latents.
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { readSafetensors, writeSafetensors } from '../core/safetensors.js';
import { assertShape } from '../core/shape.js';
import type { Encoder } from '../data/encoder.js';
import { CheckpointError, ConfigError } from '../errors.js';

/** Eigen-decomposition of a symmetric matrix (cyclic Jacobi). Returns eigenvalues and column eigenvectors, largest first. */
function symmetricEigen(a: number[][]): { values: number[]; vectors: number[][] } {
  const n = a.length;
  const m = a.map((r) => r.slice());
  const v: number[][] = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 1 : 0)));
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) off += m[i][j] ** 2;
    if (off < 1e-20) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        if (Math.abs(m[p][q]) < 1e-30) continue;
        const theta = (m[q][q] - m[p][p]) / (2 * m[p][q]);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const mkp = m[k][p], mkq = m[k][q];
          m[k][p] = c * mkp - s * mkq;
          m[k][q] = s * mkp + c * mkq;
        }
        for (let k = 0; k < n; k++) {
          const mpk = m[p][k], mqk = m[q][k];
          m[p][k] = c * mpk - s * mqk;
          m[q][k] = s * mpk + c * mqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k][p], vkq = v[k][q];
          v[k][p] = c * vkp - s * vkq;
          v[k][q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => m[j][j] - m[i][i]);
  return { values: order.map((i) => m[i][i]), vectors: v.map((row) => order.map((i) => row[i])) };
}

/**
 * A linear patch autoencoder: each `p×p×3` patch maps to `c` latent channels by its top principal
 * components, scaled to unit variance. `[B, H, W, 3] → [B, H/p, W/p, c]`.
 */
export class PatchAutoencoder implements Encoder {
  /** `tiny-patch-ae/p<p>c<c>@<fingerprint>`. */
  readonly id: string;
  /** Patch side p. */
  readonly patch: number;
  /** Latent channels c. */
  readonly channels: number;
  /** `[p·p·3]` patch mean. */
  readonly mean: tf.Tensor1D;
  /** `[p·p·3, c]` principal directions (orthonormal columns). */
  readonly components: tf.Tensor2D;
  /** `[c]` latent scale (std of each component). */
  readonly scale: tf.Tensor1D;

  /**
   * @param weights - `mean [p·p·3]`, `components [p·p·3, c]`, `scale [c]` (kept; freed by {@link dispose}).
   * @param patch - patch side p.
   * @throws {ConfigError} when the shapes disagree.
   */
  constructor(weights: { mean: tf.Tensor1D; components: tf.Tensor2D; scale: tf.Tensor1D }, patch: number) {
    const d = patch * patch * 3;
    const c = weights.components.shape[1];
    if (weights.mean.shape[0] !== d || weights.components.shape[0] !== d || weights.scale.shape[0] !== c) {
      throw new ConfigError(
        `PatchAutoencoder(patch=${patch}): expected mean [${d}], components [${d}, c], scale [c]; got [${weights.mean.shape}], [${weights.components.shape}], [${weights.scale.shape}].`,
      );
    }
    this.patch = patch;
    this.channels = c;
    this.mean = weights.mean;
    this.components = weights.components;
    this.scale = weights.scale;
    const fp = Array.from(weights.components.dataSync().slice(0, 4)).map((v) => Math.round(Math.abs(v) * 1e4).toString(36)).join('');
    this.id = `tiny-patch-ae/p${patch}c${c}@${fp}`;
  }

  /**
   * Fit the autoencoder by PCA of the patches of `images`.
   * @param images - `[N, H, W, 3]` in [-1, 1], H and W divisible by `patch` (not disposed).
   * @param patch - patch side. @param channels - latent channels (≤ p·p·3).
   * @throws {ShapeError} for bad image shapes. @throws {ConfigError} for bad sizes.
   */
  static fit(images: tf.Tensor4D, patch: number, channels: number): PatchAutoencoder {
    assertShape(images, [null, null, null, 3], 'images', 'PatchAutoencoder.fit');
    const d = patch * patch * 3;
    if (!(channels >= 1 && channels <= d)) throw new ConfigError(`PatchAutoencoder.fit: channels must be in [1, ${d}], got ${channels}.`);
    const rows = tf.tidy(() => toPatches(images, patch));
    const x = rows.arraySync() as number[][];
    rows.dispose();
    const n = x.length;
    const mean = new Array(d).fill(0);
    for (const r of x) for (let i = 0; i < d; i++) mean[i] += r[i] / n;
    const cov = Array.from({ length: d }, () => new Array(d).fill(0));
    for (const r of x) {
      for (let i = 0; i < d; i++) {
        const ri = r[i] - mean[i];
        for (let j = i; j < d; j++) cov[i][j] += (ri * (r[j] - mean[j])) / n;
      }
    }
    for (let i = 0; i < d; i++) for (let j = 0; j < i; j++) cov[i][j] = cov[j][i];
    const { values, vectors } = symmetricEigen(cov);
    const comps = vectors.map((row) => row.slice(0, channels).map((v, k) => {
      // sign convention: largest-magnitude entry of each column positive
      let big = 0;
      for (let i = 0; i < d; i++) if (Math.abs(vectors[i][k]) > Math.abs(big)) big = vectors[i][k];
      return big < 0 ? -v : v;
    }));
    const scale = values.slice(0, channels).map((v) => Math.sqrt(Math.max(v, 1e-8)));
    return new PatchAutoencoder({ mean: tf.tensor1d(mean), components: tf.tensor2d(comps, [d, channels]), scale: tf.tensor1d(scale) }, patch);
  }

  /**
   * Images to latents.
   * @param images - `[B, H, W, 3]` in [-1, 1], H and W divisible by the patch.
   * @returns `[B, H/p, W/p, c]` (caller owns).
   * @throws {ShapeError} for other shapes.
   */
  encode(images: tf.Tensor4D): tf.Tensor4D {
    assertShape(images, [null, null, null, 3], 'images', 'PatchAutoencoder.encode');
    const [b, h, w] = images.shape;
    const p = this.patch;
    return tf.tidy(() => {
      const z = tf.div(tf.matMul(tf.sub(toPatches(images, p), this.mean), this.components), this.scale);
      return tf.reshape(z, [b, h / p, w / p, this.channels]) as tf.Tensor4D;
    });
  }

  /**
   * Latents to images.
   * @param latents - `[B, h, w, c]`.
   * @returns `[B, h·p, w·p, 3]`, clipped to [-1, 1] (caller owns).
   * @throws {ShapeError} for a wrong channel count.
   */
  decode(latents: tf.Tensor4D): tf.Tensor4D {
    assertShape(latents, [null, null, null, this.channels], 'latents', 'PatchAutoencoder.decode');
    const [b, h, w] = latents.shape;
    const p = this.patch;
    return tf.tidy(() => {
      const flat = tf.reshape(tf.mul(latents, this.scale), [b * h * w, this.channels]);
      const rows = tf.add(tf.matMul(flat, tf.transpose(this.components)), this.mean); // [BHW, p·p·3]
      const img = tf.reshape(tf.transpose(tf.reshape(rows, [b, h, w, p, p, 3]), [0, 1, 3, 2, 4, 5]), [b, h * p, w * p, 3]);
      return tf.clipByValue(img, -1, 1) as tf.Tensor4D;
    });
  }

  /** Write the weights (safetensors: `mean`, `components`, `scale`; patch in metadata). */
  async save(file: string): Promise<void> {
    await writeSafetensors(file, { mean: this.mean, components: this.components, scale: this.scale }, { kind: 'PatchAutoencoder', patch: String(this.patch) });
  }

  /**
   * Load weights written by {@link save}.
   * @throws {CheckpointError} when a tensor or the patch size is missing.
   */
  static async load(file: string): Promise<PatchAutoencoder> {
    const { tensors, metadata } = await readSafetensors(file);
    const { mean, components, scale } = tensors;
    const patch = Number(metadata['patch']);
    if (!mean || !components || !scale || !Number.isInteger(patch)) {
      tf.dispose(Object.values(tensors));
      throw new CheckpointError(`${file} is not a PatchAutoencoder file: expected tensors mean, components, scale and metadata patch.`, { path: file });
    }
    return new PatchAutoencoder({ mean: mean as tf.Tensor1D, components: components as tf.Tensor2D, scale: scale as tf.Tensor1D }, patch);
  }

  /** Free the weights. */
  dispose(): void {
    tf.dispose([this.mean, this.components, this.scale]);
  }
}

/** `[B, H, W, 3]` → `[B·(H/p)·(W/p), p·p·3]` patch rows. */
function toPatches(images: tf.Tensor4D, p: number): tf.Tensor2D {
  const [b, h, w, c] = images.shape;
  if (h % p !== 0 || w % p !== 0) throw new ConfigError(`PatchAutoencoder: image size ${h}x${w} is not divisible by the patch ${p}.`);
  const x = tf.reshape(images, [b, h / p, p, w / p, p, c]);
  return tf.reshape(tf.transpose(x, [0, 1, 3, 2, 4, 5]), [b * (h / p) * (w / p), p * p * c]) as tf.Tensor2D;
}
