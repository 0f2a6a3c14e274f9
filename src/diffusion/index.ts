export * from './denoiser.js';
