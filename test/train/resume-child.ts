/**
 * Child process for the resume test: trains toward 10 steps, announces each step on stdout and
 * slows down after its step-5 checkpoint so the parent can kill it mid-run (SIGKILL).
 * Usage: node --import tsx test/train/resume-child.ts <outputDir>
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { resumeSetup } from './fixtures.js';

await tf.setBackend('wasm');
const { trainer } = resumeSetup(process.argv[2]);
let slow = false;
await trainer.train(async (e) => {
  if (e.type === 'checkpoint') {
    process.stdout.write(`CHECKPOINT ${e.step}\n`);
    slow = true;
  }
  if (e.type === 'step') {
    process.stdout.write(`STEP ${e.step}\n`);
    if (slow) await new Promise((r) => setTimeout(r, 2000));
  }
});
process.stdout.write('FINISHED\n');
