/**
 * Denoiser kinds `loadDenoiser` can rebuild from `config.json` + `model.safetensors`.
 * @module
 */
import type { Denoiser, DenoiserConfig } from './denoiser.js';
import type * as tf from '@tensorflow/tfjs';

/** Rebuilds a denoiser from its saved config, weights (owned by the caller: copy them) and folder. */
export type DenoiserLoader = (config: DenoiserConfig, weights: Record<string, tf.Tensor>, opts: { dir: string; trainable: boolean }) => Denoiser | Promise<Denoiser>;

const loaders = new Map<string, DenoiserLoader>();

/**
 * Register a loader for a denoiser `kind` (the `kind` field of its config), so
 * {@link loadDenoiser} can rebuild user-defined models too.
 * @param kind - the config's `kind`.
 * @param loader - builds the model from config and weights.
 */
export function registerDenoiserKind(kind: string, loader: DenoiserLoader): void {
  loaders.set(kind, loader);
}

/** The loader for `kind`, if registered. @internal */
export function denoiserLoader(kind: string): DenoiserLoader | undefined {
  return loaders.get(kind);
}

/** Registered kinds. */
export function denoiserKinds(): string[] {
  return [...loaders.keys()];
}
