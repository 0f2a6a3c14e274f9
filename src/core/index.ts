export * from './random.js';
export * from './shape.js';
export { initEngine, getEngineInfo } from './engine.js';
export type { EngineOptions, EngineInfo, EngineBackend, EngineBackendRequest } from './engine.js';
export { registerWasmKernels, WASM_GRADIENT_KERNELS } from './kernels/register.js';
export type { WasmGradientKernel } from './kernels/register.js';
export { readSafetensors, readSafetensorsHeader, writeSafetensors, encodeSafetensors, SAFETENSORS_MAX_HEADER } from './safetensors.js';
export type { SafetensorsDtype, SafetensorsEntry, SafetensorsHeader, SafetensorsContents, ReadSafetensorsOptions } from './safetensors.js';
