export * from './random.js';
export * from './shape.js';
