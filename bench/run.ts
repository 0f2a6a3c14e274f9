/**
 * `npm run bench`: runs every `bench/*.bench.ts` script in turn (or those whose names contain
 * one of the arguments), each in its own process so timings don't interfere.
 * Each script prints its own table; the figures are recorded in bench/RESULTS.md.
 */
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const scripts = readdirSync(here)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((p) => f.includes(p)))
  .sort();
if (scripts.length === 0) {
  console.error(`No benchmark matches ${filters.join(', ') || '(any)'} in ${here}.`);
  process.exit(1);
}
let failed = 0;
for (const s of scripts) {
  console.log(`\n=== ${s} ===`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, s)], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`${s} exited with ${r.status}`);
  }
}
process.exit(failed ? 1 : 0);
