/**
 * Reading JSON or YAML configuration files for the CLI, with errors that name the file, the line
 * and what went wrong.
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';
import { ConfigError } from '../errors.js';

/**
 * Read a configuration file: `.json` as JSON, `.yaml`/`.yml` as YAML (anything else: JSON first,
 * then YAML).
 * @param file - the file path.
 * @returns the parsed value (validate it with a schema).
 * @throws {ConfigError} when the file is missing or does not parse (with line and column).
 */
export async function loadConfigFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`Cannot read config file ${file}: ${code === 'ENOENT' ? 'no such file' : (e as Error).message}.`, { source: file });
  }
  const ext = path.extname(file).toLowerCase();
  const asJson = (): unknown => {
    try {
      return JSON.parse(text);
    } catch (e) {
      const msg = (e as Error).message;
      const m = /position (\d+)/.exec(msg);
      let where = '';
      if (m) {
        const pos = Number(m[1]);
        const before = text.slice(0, pos);
        where = ` at line ${before.split('\n').length}, column ${pos - before.lastIndexOf('\n')}`;
      }
      throw new ConfigError(`Config file ${file} is not valid JSON${where}: ${msg}`, { source: file });
    }
  };
  const asYaml = (): unknown => {
    try {
      return YAML.parse(text);
    } catch (e) {
      const err = e as Error & { linePos?: { line: number; col: number }[] };
      const lp = err.linePos?.[0];
      const where = lp ? ` at line ${lp.line}, column ${lp.col}` : '';
      throw new ConfigError(`Config file ${file} is not valid YAML${where}: ${err.message.split('\n')[0]}`, { source: file });
    }
  };
  if (ext === '.json') return asJson();
  if (ext === '.yaml' || ext === '.yml') return asYaml();
  try {
    return JSON.parse(text);
  } catch {
    return asYaml();
  }
}

/** A user plug-in: a module path (relative to the config file), an export name and options. */
export interface ModuleRef {
  /** Module path or package name. */
  module: string;
  /** Export to use (default `default`). */
  export?: string;
  /** Passed to the export when it is a function. */
  options?: unknown;
}

/**
 * Load a plug-in: import `ref.module` (relative paths resolve against `baseDir`), take
 * `ref.export`, and if it is a function call it with `ref.options` (awaiting the result).
 * @param ref - the reference from a config file.
 * @param baseDir - directory of the config file.
 * @param what - what the plug-in is for, for error messages (e.g. `conditioner`).
 * @throws {ConfigError} when the module or export is missing.
 */
export async function loadModuleRef<T>(ref: ModuleRef, baseDir: string, what: string): Promise<T> {
  const spec = ref.module.startsWith('.') || path.isAbsolute(ref.module) ? pathToFileURL(path.resolve(baseDir, ref.module)).href : ref.module;
  let mod: Record<string, unknown>;
  try {
    mod = (await import(spec)) as Record<string, unknown>;
  } catch (e) {
    throw new ConfigError(`Cannot load ${what} module "${ref.module}": ${(e as Error).message.split('\n')[0]}`, { source: what, cause: e });
  }
  const name = ref.export ?? 'default';
  const v = mod[name];
  if (v === undefined) {
    throw new ConfigError(`${what} module "${ref.module}" has no export "${name}"; it exports: ${Object.keys(mod).join(', ') || '(nothing)'}.`, { source: what });
  }
  return (typeof v === 'function' ? await (v as (o: unknown) => unknown)(ref.options) : v) as T;
}
