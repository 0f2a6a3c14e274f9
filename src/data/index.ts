/**
 * Data: pair manifests (JSONL, zod), Pick-a-Pic records, encoders, the latent cache, pair batches and DCPO
 * caption perturbation.
 * @module
 */
export { pairRecordSchema, readPairManifest, parsePairManifest } from './manifest.js';
export type { PreferencePair, PairRecordInput, PairManifest, SkippedRecord, ReadManifestOptions } from './manifest.js';
export { fromPickAPic, readPickAPicParquet } from './pick-a-pic.js';
export type { PickAPicRecord, PickAPicImage, PickAPicOptions } from './pick-a-pic.js';
export { identityEncoder } from './encoder.js';
export type { Encoder } from './encoder.js';
export { buildLatentCache, openLatentCache, LatentCache, cachePreprocessing, cacheConfigId, hashImageSource } from './latent-cache.js';
export type { BuildLatentCacheOptions, LatentCacheProgress, LatentCacheBuildResult, CachePreprocessing, CachedLatent } from './latent-cache.js';
export { PairDataset, disposePairDatasetBatch } from './pair-dataset.js';
export type { PairExample, PairDatasetOptions, PairDatasetBatch, PairDatasetState } from './pair-dataset.js';
export { perturbCaption, perturbRejectedCaptions, perturbStrategies } from './perturb.js';
export type { PerturbStrategy, PerturbOptions } from './perturb.js';
