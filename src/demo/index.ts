/**
 * The demo: a procedural text-to-image world, its tiny text encoder and autoencoder, a
 * programmatic reward judge, on-policy pairs, evaluation and `runT2IDemo`.
 * @module
 */
export * from './world.js';
export { analyseImage, rewardOf, batchRewards, ShapesRewardJudge } from './judge.js';
export type { ImageAnalysis, RewardBreakdown } from './judge.js';
export { TinyTextEncoder, DEMO_VOCAB } from './text-encoder.js';
export { PatchAutoencoder } from './autoencoder.js';
export { loadDemoBundle, saveDemoBundle, disposeDemoBundle, defaultBundleDir, BUNDLE_FILES } from './bundle.js';
export type { DemoBundle, DemoBundleMeta } from './bundle.js';
export { pretrainDemoBundle, DEMO_SCHEDULE, DEMO_UNET_CONFIG } from './pretrain.js';
export type { PretrainOptions } from './pretrain.js';
export { generateSamples, makeOnPolicyPairs, disposePairs, LatentPairSource } from './pairs.js';
export type { GenerateOptions, GeneratedSamples, LatentPair, OnPolicyPairOptions, OnPolicyPairs, LatentPairSourceState } from './pairs.js';
export { compareModels } from './evaluate.js';
export type { Comparison, CompareOptions, ModelScores } from './evaluate.js';
export { writeReport, writeComparisonGrid, writePairsGrid, upscaleNearest, summaryLines } from './report.js';
export type { DemoMetrics } from './report.js';
export { runT2IDemo, t2iDemoOptionsSchema, DEMO_DEFAULTS, DEMO_QUICK } from './run.js';
export type { T2IDemoOptions, T2IDemoResult } from './run.js';
