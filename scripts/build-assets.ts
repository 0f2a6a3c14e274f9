/**
 * `npm run build:assets`: rebuild the demo's bundled model in assets/t2i (seeded, reproducible on
 * the same backend): fit the patch autoencoder, draw the text encoder, pretrain TinyUNet on the
 * procedural world with a share of random captions, and write PROVENANCE.md.
 *
 * Usage: npm run build:assets -- [--steps N] [--seed S] [--out DIR] [--caption-noise P]
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { initEngine, pretrainDemoBundle, saveDemoBundle, defaultBundleDir, generateSamples, allCaptions, DEMO_UNET_CONFIG, DEMO_SCHEDULE } from '../src/index.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

const steps = Number(arg('steps', '1500'));
const seed = Number(arg('seed', '0'));
const captionNoise = Number(arg('caption-noise', '0.35'));
const out = path.resolve(arg('out', defaultBundleDir()));
const batchSize = 64;

const engine = await initEngine({ backend: 'wasm' });
console.log(`build:assets on ${engine.backend} (${engine.threads} threads): ${steps} steps, batch ${batchSize}, seed ${seed}, caption noise ${captionNoise}`);
const t0 = performance.now();
const bundle = await pretrainDemoBundle({ seed, steps, batchSize, captionNoise, onLog: (s, l, ms) => console.log(`step ${s} loss ${l.toFixed(4)} ${(ms / 1000).toFixed(0)} s`) });
const wall = (performance.now() - t0) / 1000;
bundle.meta.provenance = { script: 'scripts/build-assets.ts', seed, steps, batchSize, captionNoise, wallSeconds: Math.round(wall), backend: engine.backend, finalLoss: bundle.finalLoss };
await saveDemoBundle(out, bundle);

// how well does the base model follow prompts? (for PROVENANCE.md)
const caps = allCaptions().flatMap((c) => Array<string>(8).fill(c));
const g = generateSamples(bundle.unet, bundle, caps, { seed: 'provenance' });
const mean = (f: (r: (typeof g.rewards)[number]) => number) => g.rewards.reduce((a, r) => a + f(r), 0) / g.rewards.length;
const colour = mean((r) => (r.colourCorrect ? 1 : 0));
const shape = mean((r) => (r.shapeCorrect ? 1 : 0));
const both = mean((r) => (r.colourCorrect && r.shapeCorrect ? 1 : 0));
const reward = mean((r) => r.reward);
tf.dispose([g.latents, g.images]);

const files = await fs.readdir(out, { recursive: true });
const sizes: string[] = [];
let total = 0;
for (const f of files.sort()) {
  const st = await fs.stat(path.join(out, f));
  if (st.isFile() && f !== 'PROVENANCE.md') {
    sizes.push(`| ${f} | ${st.size} |`);
    total += st.size;
  }
}
const prov = `# assets/t2i provenance

The demo's bundled text-to-image model, built by \`npm run build:assets\` (${'`'}scripts/build-assets.ts${'`'}).
Do not edit by hand: rerun the script (same seed and backend → the same weights).

- Command: \`npm run build:assets -- --steps ${steps} --seed ${seed} --caption-noise ${captionNoise}\`
- Backend: ${engine.backend}, ${engine.threads} thread(s); wall time ${wall.toFixed(0)} s on a shared 2-core machine
- World: 16x16 RGB images, one shape (square, circle, triangle) in one of 5 colours on a dark background, random size and position; captions "a <colour> <shape>"
- Autoencoder: linear patch autoencoder (PCA of 2x2x3 patches of 512 world images) → 8x8x4 latents, scaled to unit variance
- Text encoder: seeded N(0, 1) embeddings (32-d) of a ${'1'}2-word vocabulary, mean-pooled
- Denoiser: TinyUNet ${JSON.stringify(DEMO_UNET_CONFIG)}
- Schedule: ${JSON.stringify(DEMO_SCHEDULE)}; DDIM ${bundle.meta.samplingSteps} steps at sampling
- Pretraining: epsilon-MSE, Adam lr 2e-3 cosine-decayed to 2e-4, batch ${batchSize}, ${steps} steps, fresh random scenes every step; final loss ${bundle.finalLoss.toFixed(4)}
- Deliberate weakness: ${Math.round(captionNoise * 100)}% of training captions were replaced by a random caption, so the base model often draws the wrong colour or shape

Base model on all 15 captions x 8 seeds (reward judge of src/demo/judge.ts): colour correct ${(100 * colour).toFixed(1)}%, shape correct ${(100 * shape).toFixed(1)}%, both ${(100 * both).toFixed(1)}%, mean reward ${reward.toFixed(3)}.

| file | bytes |
|---|---:|
${sizes.join('\n')}
| total | ${total} |
`;
await fs.writeFile(path.join(out, 'PROVENANCE.md'), prov);
console.log(`wrote ${out} (${(total / 1e6).toFixed(2)} MB) in ${wall.toFixed(0)} s; base: colour ${(100 * colour).toFixed(1)}%, shape ${(100 * shape).toFixed(1)}%, both ${(100 * both).toFixed(1)}%, reward ${reward.toFixed(3)}`);
