#!/usr/bin/env node
/**
 * The `prefkit` command line: `train`, `sample`, `eval`, plus `demo` (demo/), `label` (vlm/) and
 * `preprocess` (video/).
 * Every failure prints one readable message (what, where, what is accepted) and exits non-zero;
 * no stack trace unless PREFKIT_DEBUG=1.
 * @module
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import type { EngineBackendRequest } from '../core/index.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerEvalCommand } from './commands/eval.js';
import { registerLabelCommand } from './commands/label.js';
import { registerPreprocessCommand } from './commands/preprocess.js';
import { registerSampleCommand } from './commands/sample.js';
import { registerTrainCommand } from './commands/train.js';
import { reportCliError } from './errors.js';
import { BACKENDS } from './options.js';

/**
 * Build the `prefkit` program (commands registered, nothing parsed).
 * @returns the commander program; call `parseAsync` on it.
 */
export function buildProgram(): Command {
  const program = new Command('prefkit')
    .description('Preference-tuning for diffusion and vision models on TensorFlow.js (Diffusion-DPO, DCPO, SmPO, DenseDPO, KTO, MaPO).')
    .version('0.1.0')
    .addOption(
      new Option('--backend <name>', 'tensor backend (env PREFKIT_BACKEND also sets it)')
        .choices([...BACKENDS])
        .default(process.env.PREFKIT_BACKEND ?? 'auto'),
    )
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `prefkit ${s}` : s) });
  const backend = (): EngineBackendRequest => program.opts<{ backend: EngineBackendRequest }>().backend;

  registerTrainCommand(program, backend);
  registerSampleCommand(program, backend);
  registerEvalCommand(program, backend);
  registerLabelCommand(program);
  registerPreprocessCommand(program);
  registerDemoCommand(program, backend);
  return program;
}

/**
 * Run the CLI on `argv` and return the exit code (does not call process.exit).
 * @param argv - full argv (`process.argv`).
 */
export async function runCli(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    return reportCliError(err);
  }
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const code = await runCli(process.argv);
  // tfjs keeps no handles open, but a plug-in might: exit explicitly
  process.exit(code);
}
