/**
 * `prefkit eval --config run.yaml`: the preference loss and reward metrics of a model on pairs,
 * without training (e.g. a checkpoint on held-out pairs).
 * @module
 */
import path from 'node:path';
import { Command } from 'commander';
import { initEngine, type EngineBackendRequest } from '../../core/index.js';
import { loadDenoiser } from '../../diffusion/index.js';
import { PreferenceTrainer } from '../../train/loop.js';
import { positiveInt } from '../options.js';
import { buildRun, readRunFile } from '../run-config.js';

interface EvalFlags {
  config: string;
  model?: string;
  reference?: string;
  batches: number;
  seed: string;
}

/**
 * Add `eval` to a commander program.
 * @param program - the root command.
 * @param backend - the engine backend chosen by the global `--backend` flag.
 */
export function registerEvalCommand(program: Command, backend: () => EngineBackendRequest): Command {
  return program
    .command('eval')
    .description("Measure a model's preference loss and implicit-reward metrics on the run file's pairs (no training).")
    .requiredOption('-c, --config <file>', 'run file, JSON or YAML (model, schedule, data, trainer.loss)')
    .option('-m, --model <dir>', 'model or checkpoint folder to evaluate (default: the run file model)')
    .option('-r, --reference <dir>', 'reference model folder (default: the run file model)')
    .option('-b, --batches <n>', 'batches of trainer.batchSize pairs', positiveInt, 8)
    .option('--seed <seed>', 'seed of the timesteps and noise', '0')
    .addHelpText('after', '\nPrints one JSON object: loss, rewards/accuracies, rewards/margins, ... averaged over the batches.')
    .action(async (flags: EvalFlags) => {
      const file = await readRunFile(flags.config, { maxSteps: 1 });
      await initEngine({ backend: backend() });
      const baseDir = path.dirname(path.resolve(flags.config));
      const run = await buildRun(file, baseDir);
      const reference = flags.reference ? await loadDenoiser(path.resolve(flags.reference), { trainable: false }) : run.policy.cloneFrozen();
      const policy = flags.model ? await loadDenoiser(path.resolve(flags.model)) : run.policy;
      const trainer = new PreferenceTrainer({
        policy,
        reference,
        data: run.data,
        schedule: run.schedule,
        conditioner: run.conditioner,
        config: { ...file.trainer, outputDir: undefined },
      });
      try {
        const metrics = await trainer.evaluateLoss(run.data, flags.batches, flags.seed);
        process.stdout.write(JSON.stringify({ batches: flags.batches, pairs: flags.batches * file.trainer.batchSize, metrics }) + '\n');
      } finally {
        trainer.dispose();
        reference.dispose();
        if (policy !== run.policy) policy.dispose();
        run.policy.dispose();
      }
    });
}
