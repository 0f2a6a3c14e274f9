/**
 * Text-to-image alignment with Diffusion-DPO, in one readable file (after nanoGPT's train.py).
 *
 * The bundled tiny model draws "a <colour> <shape>" but often gets the colour or the shape wrong.
 * We sample it, let a programmatic reward judge rank the samples into preference pairs, train
 * Diffusion-DPO on those pairs, and compare base vs tuned on prompts it never trained on.
 *
 *   npx tsx examples/t2i-align/train.ts                        # settings from config.json
 *   npx tsx examples/t2i-align/train.ts --steps=50 --beta=1000 # override any setting
 *
 * Only the public API is used: swap in your own Denoiser, encoders and Judge to align your model.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import {
  compareModels,
  createProgressBar,
  createSchedule,
  getLoss,
  HELD_OUT_CAPTIONS,
  initEngine,
  LatentPairSource,
  loadDemoBundle,
  makeOnPolicyPairs,
  disposePairs,
  PreferenceTrainer,
  renderCharts,
  trainCaptions,
  writeComparisonGrid,
  type TrainerLoss,
} from '../../src/index.js';

// -----------------------------------------------------------------------------
// settings: defaults here, then config.json, then --key=value flags
let outDir = 'runs/t2i-align';
let seed = 0;
let steps = 300; // Diffusion-DPO optimizer steps per round
let rounds = 4; // on-policy rounds: round r > 1 samples fresh pairs from the current policy
let batchSize = 8; // pairs per step
let samplesPerGroup = 8; // K: best vs worst of K samples per prompt
let groupsPerPrompt = 16; // pairs per training prompt (at most)
let minGap = 0.1; // drop groups whose best and worst rewards are closer than this
let strict = true; // keep a group only if its best sample is right (colour and shape) and its worst is not
let beta = 5000; // Diffusion-DPO beta (our convention: twice diffusers' SD1.5 beta)
let lr = 3e-5;
let evalSeeds = 16; // evaluation seeds per held-out prompt
const here = path.dirname(fileURLToPath(import.meta.url));
const settings: Record<string, unknown> = { ...JSON.parse(readFileSync(path.join(here, 'config.json'), 'utf8')) };
for (const a of process.argv.slice(2)) {
  const m = /^--(\w+)=(.*)$/.exec(a);
  if (!m) throw new Error(`Flags look like --steps=50, got ${a}`);
  settings[m[1]] = Number.isNaN(Number(m[2])) ? m[2] : Number(m[2]);
}
({ outDir = outDir, seed = seed, steps = steps, rounds = rounds, batchSize = batchSize, samplesPerGroup = samplesPerGroup, groupsPerPrompt = groupsPerPrompt, minGap = minGap, strict = strict, beta = beta, lr = lr, evalSeeds = evalSeeds } =
  settings as Record<string, never>);
// -----------------------------------------------------------------------------

const engine = await initEngine({ backend: 'wasm' });
console.log(`backend ${engine.backend}, ${engine.threads} threads`);

// the model: TinyUNet denoiser + tiny text encoder + tiny autoencoder (assets/t2i)
const bundle = await loadDemoBundle();
const base = bundle.unet.cloneFrozen(); // the reference, and the "before" for evaluation
const policy = bundle.unet; // trained in place

for (let round = 0; round < rounds; round++) {
  // 1. on-policy preference pairs: K samples per prompt from the current model, best vs worst by the reward judge
  const pairs = makeOnPolicyPairs(round === 0 ? base : policy, bundle, { prompts: trainCaptions(), samplesPerGroup, groupsPerPrompt, minGap, strict, seed: round === 0 ? `${seed}/pairs` : `${seed}/pairs/round${round}` });
  console.log(`round ${round + 1}: ${pairs.pairs.length} pairs from ${pairs.samples} samples (mean reward ${pairs.meanSampleReward.toFixed(3)})`);
  tf.dispose([pairs.preview.chosen, pairs.preview.rejected]);

  // 2. Diffusion-DPO; the reference is the policy as it was at the start of the round
  const reference = round === 0 ? base : policy.cloneFrozen();
  const trainer = new PreferenceTrainer({
    policy,
    reference,
    data: new LatentPairSource(pairs.pairs, round === 0 ? `${seed}/data` : `${seed}/data/round${round}`),
    schedule: createSchedule(bundle.meta.schedule),
    conditioner: (prompts) => bundle.textEncoder.encode(prompts),
    loss: getLoss('diffusion-dpo') as unknown as TrainerLoss,
    config: {
      maxSteps: steps,
      batchSize,
      seed: round === 0 ? seed : `${seed}/train/round${round}`,
      loss: { name: 'diffusion-dpo', options: { beta } },
      optimizer: { lr, weightDecay: 0 },
      lrSchedule: { kind: 'constant', warmupSteps: 10 },
      maxGradNorm: 1,
      logEvery: 5,
      outputDir: round === 0 ? outDir : path.join(outDir, `round-${round + 1}`), // metrics.jsonl + checkpoints per round; charts: round 1
    },
  });
  await trainer.train(createProgressBar({ label: `dpo ${round + 1}/${rounds}` }));
  trainer.dispose();
  disposePairs(pairs.pairs);
  if (reference !== base) reference.dispose();
}
await renderCharts(path.join(outDir, 'metrics.jsonl'), outDir);
await policy.save(path.join(outDir, 'tuned')); // the final weights: loadDenoiser(`${outDir}/tuned`)

// 3. evaluation on held-out prompts and seeds: same starting noise for base and tuned
const r = compareModels(base, policy, bundle, { prompts: HELD_OUT_CAPTIONS, seedsPerPrompt: evalSeeds, seed: `${seed}/eval`, keepImages: true });
await writeComparisonGrid(r.images!.base, r.images!.tuned, r.images!.prompts, 4, path.join(outDir, 'samples-heldout.png'));
tf.dispose([r.images!.base, r.images!.tuned]);
console.log(`held-out mean reward: base ${r.base.meanReward.toFixed(3)} → tuned ${r.tuned.meanReward.toFixed(3)}`);
console.log(`colour+shape correct: ${(100 * r.base.bothAccuracy).toFixed(1)}% → ${(100 * r.tuned.bothAccuracy).toFixed(1)}%`);
console.log(`tuned vs base: ${r.wins} wins, ${r.ties} ties, ${r.losses} losses (win rate ${(100 * r.winRate).toFixed(1)}%)`);
console.log(`charts, samples and the tuned weights (tuned/) in ${outDir}`);
