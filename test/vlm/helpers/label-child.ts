/**
 * Child process for the kill-and-resume test: labels PREFKIT_CHILD_N pairs against
 * PREFKIT_CHILD_URL with cache PREFKIT_CHILD_CACHE, printing one line per finished item.
 * The parent kills it with SIGKILL part-way.
 */
import { labelPairs, openAIJudge } from '../../../src/vlm/index.js';
import { solidPng } from './media.js';

const n = Number(process.env.PREFKIT_CHILD_N);
const records = [];
for (let i = 0; i < n; i++) records.push({ prompt: `item-${i}`, chosen: await solidPng(10 * i, 0, 0), rejected: await solidPng(0, 10 * i, 0) });
const judge = openAIJudge({
  baseURL: process.env.PREFKIT_CHILD_URL!,
  model: 'fake-vlm',
  apiKeyEnv: 'PREFKIT_TEST_VLM_KEY',
  cacheFile: process.env.PREFKIT_CHILD_CACHE!,
  timeoutMs: 5000,
  maxRetries: 1,
  baseDelayMs: 5,
  concurrency: 2,
});
await labelPairs(records, judge, {
  concurrency: 2,
  onProgress: (e) => {
    if (e.type === 'item') process.stdout.write(`done ${e.index}\n`);
  },
});
process.stdout.write('finished\n');
