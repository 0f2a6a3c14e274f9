/**
 * Diffusion core: diffusers-compatible noise schedules and samplers, guidance, inversion,
 * per-timestep preference pairs, the `Denoiser` contract and reference denoisers.
 * @module
 */
export type { Conditioning, Denoiser, DenoiserConfig } from './denoiser.js';
export {
  BETA_SCHEDULES,
  PREDICTION_TYPES,
  TIMESTEP_SPACINGS,
  VARIANCE_TYPES,
  ScheduleConfigSchema,
  parseScheduleConfig,
  betasForAlphaBar,
  rescaleZeroTerminalSnr,
  betasFromConfig,
  inferenceTimesteps,
  type BetaSchedule,
  type PredictionType,
  type TimestepSpacing,
  type ScheduleConfig,
  type ScheduleConfigInput,
} from './schedules.js';
export { NoiseSchedule, createSchedule, type Timesteps } from './noising.js';
export type { Scheduler, StepOptions, StepOutput } from './scheduler.js';
export { DDIMScheduler } from './ddim.js';
export { DDPMScheduler } from './ddpm.js';
export { FlowMatchEulerScheduler } from './flow-match.js';
export { makePairBatch, type PairBatch, type PairBatchOptions, type PairNoise } from './pairs.js';
export { ParamStore, ParamSpecBuilder, timestepFeatures, type ParamSpec, type ParamInit } from './nn.js';
export { ParametricDenoiser, type ParamInitOptions } from './param-denoiser.js';
export { registerDenoiserKind, denoiserKinds, type DenoiserLoader } from './registry.js';
export { TinyUNet, TinyUNetConfigSchema, toTorchLayout, fromTorchLayout, type TinyUNetConfig, type TinyUNetConfigInput } from './tiny-unet.js';
export { TinyVideoUNet, TinyVideoUNetConfigSchema, type TinyVideoUNetConfig, type TinyVideoUNetConfigInput } from './tiny-video-unet.js';
export { layersModelDenoiser, type LayersModelDenoiserOptions, type LayersModelDenoiserConfig, type LayersModelInput } from './layers-adapter.js';
export { loadDenoiser } from './load.js';
export { sample, guidedPrediction, nullConditioning, type SampleOptions } from './sampler.js';
export { ddimInvert, renoiseInvert, type InversionOptions, type RenoiseOptions } from './inversion.js';
