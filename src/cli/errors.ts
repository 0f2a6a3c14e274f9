/**
 * How the CLI reports failures: one readable message on stderr, a non-zero exit code, no stack trace
 * (set PREFKIT_DEBUG=1 to see one).
 * @module
 */
import { CommanderError } from 'commander';
import { isConfigError, isPrefkitError } from '../errors.js';

/** Exit codes: 1 runtime failure, 2 bad usage or configuration. */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * Print `err` for a terminal user and return the exit code to use.
 * @param err - anything thrown by a command.
 * @param stderr - where to write (default process.stderr).
 * @returns 2 for configuration/usage errors, 1 otherwise (commander's own code for its errors).
 */
export function reportCliError(err: unknown, stderr: NodeJS.WritableStream = process.stderr): number {
  const debug = process.env.PREFKIT_DEBUG === '1';
  if (err instanceof CommanderError) {
    // commander already printed its message (unknown option, missing argument, ...)
    return err.exitCode === 0 ? 0 : EXIT.usage;
  }
  if (isPrefkitError(err)) {
    stderr.write(`prefkit: ${err.message}\n`);
    if (debug && err.stack) stderr.write(`${err.stack}\n`);
    return isConfigError(err) ? EXIT.usage : EXIT.failure;
  }
  const e = err as Error;
  stderr.write(`prefkit: unexpected error: ${e?.message ?? String(err)}\n`);
  stderr.write(debug && e?.stack ? `${e.stack}\n` : '(set PREFKIT_DEBUG=1 for a stack trace)\n');
  return EXIT.failure;
}
