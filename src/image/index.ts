/**
 * Images: sharp decoding to float32 tensors in [-1, 1], PNG output and grids.
 * @module
 */
export { loadImage, loadImages, decodeImage, bytesToUnit, DEFAULT_MAX_PIXELS } from './load.js';
export type { ImageSource, Background, LoadImageOptions, DecodedImage } from './load.js';
export { saveImage, encodePng, imageGrid, unitToBytes } from './save.js';
export type { ImageGridOptions } from './save.js';
