import { describe, it, expect } from 'vitest';
import { fc, test as fcTest } from '@fast-check/vitest';
import { perturbCaption, perturbRejectedCaptions, perturbStrategies } from '../../src/data/perturb.js';
import { createRng } from '../../src/core/random.js';
import { ConfigError } from '../../src/errors.js';

const COLORS = new Set(['red', 'orange', 'yellow', 'green', 'blue', 'purple', 'pink', 'brown', 'black', 'white', 'gray', 'grey', 'gold', 'silver', 'cyan', 'magenta', 'violet', 'beige', 'turquoise', 'teal']);
const words = (s: string) => s.split(/\s+/);

describe('perturbCaption', () => {
  it('is deterministic given the rng state', () => {
    const c = 'a big red bus to the left of three small green cars';
    for (const strategy of perturbStrategies) {
      expect(perturbCaption(c, { strategy, rng: createRng(5) })).toBe(perturbCaption(c, { strategy, rng: createRng(5) }));
    }
  });

  it('color replaces only colour words, with other colours', () => {
    const c = 'a red cube next to a blue ball';
    for (let seed = 0; seed < 10; seed++) {
      const out = perturbCaption(c, { strategy: 'color', rng: createRng(seed), strength: 'strong' });
      const a = words(c);
      const b = words(out);
      expect(b).toHaveLength(a.length);
      a.forEach((w, i) => {
        if (COLORS.has(w)) {
          expect(COLORS.has(b[i])).toBe(true);
          expect(b[i]).not.toBe(w);
        } else expect(b[i]).toBe(w);
      });
    }
  });

  it('weak strength makes exactly one edit', () => {
    const out = perturbCaption('red and blue and green', { strategy: 'color', rng: createRng(1), strength: 'weak' });
    const changed = words(out).filter((w, i) => w !== words('red and blue and green')[i]);
    expect(changed).toHaveLength(1);
  });

  it('spatial and antonym swap for the opposite (single-option cases are exact)', () => {
    expect(perturbCaption('a cube to the left of a ball', { strategy: 'spatial', rng: createRng(0) })).toBe('a cube to the right of a ball');
    expect(perturbCaption('a dog in front of a house', { strategy: 'spatial', rng: createRng(0) })).toBe('a dog behind a house');
    expect(perturbCaption('a big house', { strategy: 'antonym', rng: createRng(0) })).toBe('a small house');
    expect(perturbCaption('Sunny beach', { strategy: 'antonym', rng: createRng(0) })).toBe('Rainy beach');
  });

  it('count changes numbers written as words or digits', () => {
    const out = perturbCaption('two cats and 3 dogs', { strategy: 'count', rng: createRng(2), strength: 'strong' });
    const [n1, , , n2] = words(out);
    expect(n1).not.toBe('two');
    expect(n2).not.toBe('3');
    expect(words(out).slice(1, 3)).toEqual(['cats', 'and']);
  });

  it('drop removes content words only, keeping order; shuffle keeps the words', () => {
    const c = 'a photograph of an astronaut riding a horse on mars';
    const dropped = perturbCaption(c, { strategy: 'drop', rng: createRng(3), strength: 'strong' });
    const kept = words(dropped);
    expect(kept.length).toBeLessThan(words(c).length);
    let j = 0;
    for (const w of words(c)) if (j < kept.length && kept[j] === w) j++;
    expect(j).toBe(kept.length); // a subsequence
    const shuffled = perturbCaption(c, { strategy: 'shuffle', rng: createRng(3) });
    expect(shuffled).not.toBe(c);
    expect([...words(shuffled)].sort()).toEqual([...words(c)].sort());
  });

  it('falls back to drop when the strategy finds nothing', () => {
    const out = perturbCaption('an astronaut riding a horse', { strategy: 'color', rng: createRng(0) });
    expect(out).not.toBe('an astronaut riding a horse');
    expect(words(out).length).toBeLessThan(5);
  });

  fcTest.prop([fc.array(fc.constantFrom('a', 'red', 'big', 'dog', 'left', 'of', 'two', 'house', 'night', 'sky', 'over'), { minLength: 2, maxLength: 10 }), fc.integer()], {
    seed: 42,
    numRuns: 200,
  })('auto always changes a caption of two or more distinct words', (ws, seed) => {
    fc.pre(new Set(ws).size >= 2);
    const c = ws.join(' ');
    expect(perturbCaption(c, { rng: createRng(seed) })).not.toBe(c);
  });

  it('rejects unknown strategies and a missing rng', () => {
    expect(() => perturbCaption('a', { strategy: 'paraphrase' as never, rng: createRng(0) })).toThrowErrorMatchingInlineSnapshot(`[ConfigError: Unknown caption perturbation strategy "paraphrase". Expected one of: auto, color, count, spatial, antonym, drop, shuffle.]`);
    expect(() => perturbCaption('a', {} as never)).toThrow(ConfigError);
  });

  it('perturbRejectedCaptions: DCPO-p from prompts, DCPO-h from captions, per-pair streams', () => {
    const recs = [
      { prompt: 'a red cube', chosen: 'a.png', rejected: 'b.png', label: 1 },
      { prompt: 'ignored', chosen: 'c.png', rejected: 'd.png', label: 1, captionChosen: 'a big dog', captionRejected: 'a big cat' },
    ];
    const out = perturbRejectedCaptions(recs, { rng: createRng(4), strategy: 'auto', strength: 'weak' });
    expect(out[0].captionChosen).toBe('a red cube');
    expect(out[0].captionRejected).not.toBe('a red cube');
    expect(out[0].captionRejected).toBe(perturbCaption('a red cube', { rng: createRng(4).split(0), strategy: 'auto', strength: 'weak' }));
    expect(out[1].captionChosen).toBe('a big dog');
    expect(out[1].captionRejected).toBe(perturbCaption('a big cat', { rng: createRng(4).split(1), strategy: 'auto', strength: 'weak' }));
    expect(out[1].chosen).toBe('c.png');
    expect(recs[0]).not.toHaveProperty('captionChosen'); // input untouched
    // pair i's caption depends on i only, not on the other pairs (here: one appended)
    const longer = perturbRejectedCaptions([...recs, { prompt: 'two blue balls', captionChosen: undefined, captionRejected: undefined }], {
      rng: createRng(4),
      strategy: 'auto',
      strength: 'weak',
    });
    expect(longer[1].captionRejected).toBe(out[1].captionRejected);
  });
});
