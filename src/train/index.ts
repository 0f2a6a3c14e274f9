/**
 * The trainer: PreferenceTrainer, AdamW, LR schedules, checkpoints, events, metrics and charts.
 * @module
 */
export * from './config.js';
export * from './events.js';
export * from './lr-schedule.js';
export * from './optimizer.js';
export * from './loop.js';
export type * from './types.js';
export * from './checkpoint.js';
export * from './metrics.js';
export * from './charts.js';
export * from './progress.js';
