/**
 * `prefkit train --config run.yaml`: preference-tune a denoiser from a run file.
 * @module
 */
import path from 'node:path';
import { Command } from 'commander';
import { initEngine, type EngineBackendRequest } from '../../core/index.js';
import { PrefkitError } from '../../errors.js';
import { renderCharts } from '../../train/charts.js';
import { PreferenceTrainer } from '../../train/loop.js';
import { createProgressBar } from '../../train/progress.js';
import { EXIT } from '../errors.js';
import { positiveInt } from '../options.js';
import { buildRun, readRunFile } from '../run-config.js';

/** Options of the train command after parsing. */
interface TrainFlags {
  config: string;
  output?: string;
  steps?: number;
  resume?: string | boolean;
  charts: boolean;
  progress: boolean;
}

/**
 * Add `train` to a commander program.
 * @param program - the root command.
 * @param backend - returns the engine backend chosen by the global `--backend` flag.
 */
export function registerTrainCommand(program: Command, backend: () => EngineBackendRequest): Command {
  return program
    .command('train')
    .description('Preference-tune a diffusion model from a run file (model, schedule, data, trainer).')
    .requiredOption('-c, --config <file>', 'run file, JSON or YAML')
    .option('-o, --output <dir>', 'output directory (overrides trainer.outputDir)')
    .option('--steps <n>', 'optimizer steps (overrides trainer.maxSteps)', positiveInt)
    .option('--resume [dir]', 'continue from a checkpoint (default: the newest one in the output directory)')
    .option('--no-charts', 'do not draw PNG charts at the end')
    .option('--no-progress', 'no progress bar (log lines only)')
    .addHelpText(
      'after',
      `
Run file (YAML or JSON; paths relative to it):
  model:      { dir: path/to/model }            folder from Denoiser.save or a checkpoint
  schedule:   { num_train_timesteps: 1000 }     diffusers scheduler keys
  data:       { manifest: pairs.jsonl, size: 32 }
  conditioner: { module: ./encoder.ts }          optional: (prompts) => Conditioning
  trainer:    { maxSteps: 200, loss: { name: diffusion-dpo, options: { beta: 5000 } },
                optimizer: { lr: 1e-5 }, batchSize: 4, outputDir: runs/dpo }
Writes metrics.jsonl, checkpoints/ and charts/ into the output directory.`,
    )
    .action(async (flags: TrainFlags) => {
      const file = await readRunFile(flags.config, { outputDir: flags.output, maxSteps: flags.steps });
      const outDir = file.trainer.outputDir ?? path.join('runs', 'train');
      file.trainer.outputDir = outDir;
      await initEngine({ backend: backend() });
      const run = await buildRun(file, path.dirname(path.resolve(flags.config)));
      const trainer = new PreferenceTrainer({
        policy: run.policy,
        data: run.data,
        schedule: run.schedule,
        conditioner: run.conditioner,
        config: file.trainer,
      });
      try {
        if (flags.resume) {
          const from = await trainer.resume(typeof flags.resume === 'string' ? flags.resume : outDir);
          process.stderr.write(`resumed from step ${from}\n`);
        }
        const bar = createProgressBar({ forceTTY: flags.progress ? undefined : false });
        const result = await trainer.train(bar);
        if (flags.charts && trainer.metricsFile) {
          const files = await renderCharts(trainer.metricsFile, path.join(outDir, 'charts'));
          process.stderr.write(`charts: ${files.join(', ')}\n`);
        }
        process.stdout.write(JSON.stringify({ step: result.step, reason: result.reason, metrics: result.metrics, outputDir: outDir }) + '\n');
        if (result.reason === 'non-finite') {
          throw new PrefkitError('NON_FINITE', `Training stopped at step ${result.step}: ${result.nonFiniteSteps} steps had a non-finite loss or gradient (limit trainer.maxNonFiniteSteps). Lower the learning rate or check the data.`);
        }
        process.exitCode = EXIT.ok;
      } finally {
        trainer.dispose();
        run.policy.dispose();
      }
    });
}
