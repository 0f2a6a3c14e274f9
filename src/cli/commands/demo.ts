/**
 * `prefkit demo` (`npm run demo`): text-to-image alignment on the bundled tiny model, with a report.
 * @module
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { EngineBackendRequest } from '../../core/engine.js';
import { runT2IDemo, DEMO_DEFAULTS, DEMO_QUICK } from '../../demo/run.js';
import { finiteNumber, nonNegativeInt, positiveInt } from '../options.js';

/** Flags of `prefkit demo`. */
export interface DemoCommandOptions {
  quick?: boolean;
  out: string;
  seed: number;
  steps?: number;
  rounds?: number;
  reference?: 'base' | 'round';
  batchSize?: number;
  samples?: number;
  groups?: number;
  evalSeeds?: number;
  beta?: number;
  lr?: number;
  samplingSteps?: number;
  sftWeight?: number;
  strict?: boolean;
  bundle?: string;
  quiet?: boolean;
}

function positiveNumber(v: string): number {
  const n = finiteNumber(v);
  if (!(n > 0)) throw new InvalidArgumentError(`Expected a positive number, got "${v}".`);
  return n;
}

/**
 * Add the `demo` command to a commander program.
 * @param program - the `prefkit` program.
 * @param backend - reads the global `--backend` flag (default: wasm).
 * @returns the `demo` sub-command.
 */
export function registerDemoCommand(program: Command, backend?: () => EngineBackendRequest): Command {
  return program
    .command('demo')
    .description(
      'Text-to-image alignment on the bundled tiny model: sample the base model, rank samples with a reward judge into ' +
        'preference pairs, train Diffusion-DPO, and compare base vs tuned on held-out prompts. Writes report.md, metrics.json and PNGs.',
    )
    .option('--quick', `a small run (about a minute): ${DEMO_QUICK.steps} steps, ${DEMO_QUICK.evalSeeds} eval seeds`)
    .option('--out <dir>', 'report folder', 'runs/demo')
    .option('--seed <n>', 'master seed', nonNegativeInt, 0)
    .option('--steps <n>', `Diffusion-DPO steps per round (default ${DEMO_DEFAULTS.steps}, quick ${DEMO_QUICK.steps})`, positiveInt)
    .option('--rounds <n>', `on-policy rounds: fresh pairs from the current model, then --steps steps (default ${DEMO_DEFAULTS.rounds})`, positiveInt)
    .addOption(new Option('--reference <which>', `reference model after round 1: the base model or the policy at the round's start (default ${DEMO_DEFAULTS.reference})`).choices(['base', 'round']))
    .option('--batch-size <n>', `pairs per step (default ${DEMO_DEFAULTS.batchSize})`, positiveInt)
    .option('--samples <k>', `samples per group, best vs worst of K (default ${DEMO_DEFAULTS.samplesPerGroup})`, positiveInt)
    .option('--groups <n>', `groups (pairs at most) per training prompt (default ${DEMO_DEFAULTS.groupsPerPrompt})`, positiveInt)
    .option('--eval-seeds <n>', `evaluation seeds per prompt (default ${DEMO_DEFAULTS.evalSeeds})`, positiveInt)
    .option('--beta <x>', `Diffusion-DPO beta (default ${DEMO_DEFAULTS.beta})`, positiveNumber)
    .option('--lr <x>', `learning rate (default ${DEMO_DEFAULTS.lr})`, positiveNumber)
    .option('--sft-weight <x>', 'weight of an SFT term on the chosen samples (default 0)', finiteNumber)
    .option('--no-strict', 'keep groups whose best sample is not fully right, or whose worst is (default: strict)')
    .option('--sampling-steps <n>', 'DDIM steps (default: the bundle’s)', positiveInt)
    .option('--bundle <dir>', 'model bundle folder (default: the packaged assets/t2i)')
    .addOption(new Option('--quiet', 'print only the summary').default(false))
    .action(async (o: DemoCommandOptions) => {
      const b = backend?.();
      await runT2IDemo({
        quick: Boolean(o.quick),
        outDir: o.out,
        seed: o.seed,
        steps: o.steps,
        rounds: o.rounds,
        reference: o.reference,
        batchSize: o.batchSize,
        samplesPerGroup: o.samples,
        groupsPerPrompt: o.groups,
        evalSeeds: o.evalSeeds,
        beta: o.beta,
        lr: o.lr,
        samplingSteps: o.samplingSteps,
        sftWeight: o.sftWeight,
        strict: o.strict === false ? false : undefined,
        bundleDir: o.bundle,
        backend: b && b !== 'auto' ? b : 'wasm',
        verbose: !o.quiet,
      });
    });
}
