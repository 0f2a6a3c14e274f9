export * from './denoiser.js';
export * from './schedules.js';
export * from './noising.js';
export * from './scheduler.js';
export * from './ddim.js';
export * from './ddpm.js';
export * from './flow-match.js';
export * from './pairs.js';
