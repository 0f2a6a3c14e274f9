/**
 * The encoder contract between images and the space a diffusion model works in
 * (pixels, or the latents of an autoencoder).
 * @module
 */
import * as tf from '@tensorflow/tfjs';
import { assertShape } from '../core/shape.js';

/**
 * Maps images to latents and back. Implementations are synchronous tfjs computations.
 *
 * - `encode(images)`: images `[B, H, W, 3]` in [-1, 1] → latents `[B, h, w, c]`.
 * - `decode(latents)`: latents `[B, h, w, c]` → images `[B, H, W, 3]` in [-1, 1].
 *
 * Both return a new tensor the caller owns and must not dispose their input. `id` names
 * the encoder and its weights in latent-cache keys: change it whenever the weights change
 * (for example `'tiny-ae@sha256:ab12…'`), or the cache will serve latents of the old weights.
 */
export interface Encoder {
  /** Identifies the encoder and its weights; part of every latent-cache key. */
  readonly id: string;
  /** `[B, H, W, 3]` images in [-1, 1] → `[B, h, w, c]` latents. */
  encode(images: tf.Tensor4D): tf.Tensor4D;
  /** `[B, h, w, c]` latents → `[B, H, W, 3]` images in [-1, 1]. */
  decode(latents: tf.Tensor4D): tf.Tensor4D;
}

/**
 * The pixel-space encoder: latents are the images themselves (a copy).
 * @example
 * const lat = identityEncoder.encode(images); // same values, new tensor
 */
export const identityEncoder: Encoder = {
  id: 'identity',
  encode(images: tf.Tensor4D): tf.Tensor4D {
    assertShape(images, [null, null, null, null], 'images', 'identityEncoder.encode');
    return tf.clone(images);
  },
  decode(latents: tf.Tensor4D): tf.Tensor4D {
    assertShape(latents, [null, null, null, null], 'latents', 'identityEncoder.decode');
    return tf.clone(latents);
  },
};
