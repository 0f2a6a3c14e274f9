import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import {
  BackendError,
  CheckpointError,
  ConfigError,
  isBackendError,
  isCheckpointError,
  isConfigError,
  isMediaError,
  isPrefkitError,
  isShapeError,
  isVlmError,
  MediaError,
  parseWithSchema,
  PrefkitError,
  ShapeError,
  VlmError,
} from '../../src/errors.js';

const cases = [
  { make: () => new ConfigError('c'), name: 'ConfigError', code: 'CONFIG_INVALID', guard: isConfigError },
  { make: () => new ShapeError('s'), name: 'ShapeError', code: 'SHAPE_MISMATCH', guard: isShapeError },
  { make: () => new BackendError('b'), name: 'BackendError', code: 'BACKEND_UNAVAILABLE', guard: isBackendError },
  { make: () => new MediaError('m'), name: 'MediaError', code: 'MEDIA_INVALID', guard: isMediaError },
  { make: () => new VlmError('v'), name: 'VlmError', code: 'VLM_REQUEST_FAILED', guard: isVlmError },
  { make: () => new CheckpointError('k'), name: 'CheckpointError', code: 'CHECKPOINT_INVALID', guard: isCheckpointError },
] as const;

describe('PrefkitError family', () => {
  it.each(cases)('$name has its name, default code, and a guard true only for itself', ({ make, name, code, guard }) => {
    const e = make();
    expect(e).toBeInstanceOf(Error);
    expect(e).toBeInstanceOf(PrefkitError);
    expect(e.name).toBe(name);
    expect(e.code).toBe(code);
    expect(isPrefkitError(e)).toBe(true);
    for (const other of cases) expect(other.guard(e)).toBe(other.name === name);
    expect(guard(new Error('plain'))).toBe(false);
    expect(isPrefkitError(new Error('plain'))).toBe(false);
    expect(isPrefkitError(null)).toBe(false);
  });

  it('carries context fields and a cause', () => {
    const cause = new Error('root');
    const b = new BackendError('no', { backend: 'tensorflow', packageName: '@tensorflow/tfjs-node', cause });
    expect([b.backend, b.packageName, b.cause]).toEqual(['tensorflow', '@tensorflow/tfjs-node', cause]);
    const m = new MediaError('ffmpeg failed', { command: 'ffmpeg', exitCode: 1, stderrTail: 'x', code: 'MEDIA_TOOL_FAILED' });
    expect([m.code, m.exitCode]).toEqual(['MEDIA_TOOL_FAILED', 1]);
    const k = new CheckpointError('bad', { path: '/a', code: 'SAFETENSORS_INVALID' });
    expect([k.code, k.path]).toEqual(['SAFETENSORS_INVALID', '/a']);
    const v = new VlmError('r', { status: 429, code: 'VLM_REPLY_INVALID' });
    expect([v.status, v.code]).toEqual([429, 'VLM_REPLY_INVALID']);
  });
});

describe('parseWithSchema', () => {
  const schema = z.object({ lr: z.number().positive(), link: z.enum(['sigmoid', 'hinge']) });
  it('returns the parsed value', () => {
    expect(parseWithSchema(schema, { lr: 1e-4, link: 'hinge' }, 'config')).toEqual({ lr: 1e-4, link: 'hinge' });
  });
  it('throws ConfigError listing each issue with its path, and keeps the zod issues', () => {
    let err: unknown;
    try {
      parseWithSchema(schema, { lr: -1, link: 'ipo2' }, 'train.json');
    } catch (e) {
      err = e;
    }
    expect(isConfigError(err)).toBe(true);
    const c = err as ConfigError;
    expect(c.source).toBe('train.json');
    expect(c.issues.map((i) => i.path.join('.'))).toEqual(['lr', 'link']);
    expect(c.message.split('\n')[0]).toBe('Invalid train.json:');
    expect(c.message).toContain('  - lr: ');
    expect(c.message).toContain('  - link: ');
  });
});
