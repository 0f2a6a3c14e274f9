/**
 * prefkit: preference-tuning for diffusion and vision models on TensorFlow.js.
 *
 * Named exports only, grouped by layer.
 * @packageDocumentation
 */
export * from './errors.js';
export * from './core/index.js';
export * from './diffusion/index.js';
export * from './losses/index.js';
export * from './image/index.js';
export * from './data/index.js';
export * from './video/index.js';
export * from './vlm/index.js';
export * from './train/index.js';
export * from './demo/index.js';
