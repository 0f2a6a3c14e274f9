/**
 * Typed errors for prefkit. Every error the library throws on purpose is a
 * {@link PrefkitError} with a machine-readable `code`; subclasses carry context.
 * @module
 */
import type { z } from 'zod';

/** Machine-readable error codes. */
export type PrefkitErrorCode =
  | 'CONFIG_INVALID'
  | 'SHAPE_MISMATCH'
  | 'BACKEND_UNAVAILABLE'
  | 'MEDIA_INVALID'
  | 'MEDIA_TOOL_FAILED'
  | 'VLM_REQUEST_FAILED'
  | 'VLM_REPLY_INVALID'
  | 'CHECKPOINT_INVALID'
  | 'SAFETENSORS_INVALID'
  | 'NON_FINITE'
  | 'ABORTED'
  | 'INTERNAL';

/** Base class of every error prefkit throws on purpose. */
export class PrefkitError extends Error {
  override name: string = 'PrefkitError';
  /** Machine-readable code. */
  readonly code: PrefkitErrorCode;
  constructor(code: PrefkitErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/** A configuration, option or data record failed validation. */
export class ConfigError extends PrefkitError {
  override name = 'ConfigError' as const;
  /** zod issues when the failure came from a schema. */
  readonly issues: readonly z.core.$ZodIssue[];
  /** Where the bad value came from (a file, a CLI flag, a function argument). */
  readonly source?: string;
  constructor(message: string, options: { issues?: readonly z.core.$ZodIssue[]; source?: string; cause?: unknown } = {}) {
    super('CONFIG_INVALID', message, { cause: options.cause });
    this.issues = options.issues ?? [];
    this.source = options.source;
  }
}

/** A tensor argument had the wrong rank, shape or dtype. */
export class ShapeError extends PrefkitError {
  override name = 'ShapeError' as const;
  /** The argument name. */
  readonly argument?: string;
  /** The shape received. */
  readonly actual?: readonly number[];
  /** The shape expected, with -1 or null for free dimensions. */
  readonly expected?: readonly (number | null)[];
  constructor(message: string, options: { argument?: string; actual?: readonly number[]; expected?: readonly (number | null)[] } = {}) {
    super('SHAPE_MISMATCH', message);
    this.argument = options.argument;
    this.actual = options.actual;
    this.expected = options.expected;
  }
}

/** A requested tensor backend cannot be loaded. */
export class BackendError extends PrefkitError {
  override name = 'BackendError' as const;
  /** The backend asked for. */
  readonly backend?: string;
  /** The npm package that would provide it. */
  readonly packageName?: string;
  constructor(message: string, options: { backend?: string; packageName?: string; cause?: unknown } = {}) {
    super('BACKEND_UNAVAILABLE', message, { cause: options.cause });
    this.backend = options.backend;
    this.packageName = options.packageName;
  }
}

/** An image or video file is unreadable, or an external media tool failed. */
export class MediaError extends PrefkitError {
  override name = 'MediaError' as const;
  /** The file concerned. */
  readonly file?: string;
  /** The external command, when one ran. */
  readonly command?: string;
  /** Its exit code. */
  readonly exitCode?: number | null;
  /** The last lines of its stderr. */
  readonly stderrTail?: string;
  constructor(
    message: string,
    options: { file?: string; command?: string; exitCode?: number | null; stderrTail?: string; code?: 'MEDIA_INVALID' | 'MEDIA_TOOL_FAILED' | 'ABORTED'; cause?: unknown } = {},
  ) {
    super(options.code ?? 'MEDIA_INVALID', message, { cause: options.cause });
    this.file = options.file;
    this.command = options.command;
    this.exitCode = options.exitCode;
    this.stderrTail = options.stderrTail;
  }
}

/** A vision-language model request failed or its reply could not be used. */
export class VlmError extends PrefkitError {
  override name = 'VlmError' as const;
  /** HTTP status, when there was one. */
  readonly status?: number;
  /** The request URL (never with credentials). */
  readonly url?: string;
  /** The start of the response body. */
  readonly bodyExcerpt?: string;
  constructor(
    message: string,
    options: { status?: number; url?: string; bodyExcerpt?: string; code?: 'VLM_REQUEST_FAILED' | 'VLM_REPLY_INVALID'; cause?: unknown } = {},
  ) {
    super(options.code ?? 'VLM_REQUEST_FAILED', message, { cause: options.cause });
    this.status = options.status;
    this.url = options.url;
    this.bodyExcerpt = options.bodyExcerpt;
  }
}

/** A checkpoint or weights file is missing, malformed or does not match the model. */
export class CheckpointError extends PrefkitError {
  override name = 'CheckpointError' as const;
  /** The file or directory concerned. */
  readonly path?: string;
  constructor(message: string, options: { path?: string; code?: 'CHECKPOINT_INVALID' | 'SAFETENSORS_INVALID'; cause?: unknown } = {}) {
    super(options.code ?? 'CHECKPOINT_INVALID', message, { cause: options.cause });
    this.path = options.path;
  }
}

/** True when `e` is any prefkit error. */
export function isPrefkitError(e: unknown): e is PrefkitError {
  return e instanceof PrefkitError;
}
/** True when `e` is a {@link ConfigError}. */
export function isConfigError(e: unknown): e is ConfigError {
  return e instanceof ConfigError;
}
/** True when `e` is a {@link ShapeError}. */
export function isShapeError(e: unknown): e is ShapeError {
  return e instanceof ShapeError;
}
/** True when `e` is a {@link BackendError}. */
export function isBackendError(e: unknown): e is BackendError {
  return e instanceof BackendError;
}
/** True when `e` is a {@link MediaError}. */
export function isMediaError(e: unknown): e is MediaError {
  return e instanceof MediaError;
}
/** True when `e` is a {@link VlmError}. */
export function isVlmError(e: unknown): e is VlmError {
  return e instanceof VlmError;
}
/** True when `e` is a {@link CheckpointError}. */
export function isCheckpointError(e: unknown): e is CheckpointError {
  return e instanceof CheckpointError;
}

/**
 * Parse `value` with a zod schema, or throw a {@link ConfigError} whose message
 * says where (`source`), what failed and what is accepted.
 */
export function parseWithSchema<S extends z.ZodType>(schema: S, value: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => {
    const where = i.path.length ? i.path.join('.') : '(root)';
    return `  - ${where}: ${i.message}`;
  });
  throw new ConfigError(`Invalid ${source}:\n${lines.join('\n')}`, { issues: r.error.issues, source });
}
