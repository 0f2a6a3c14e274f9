import { describe, expect, it } from 'vitest';
import { CRITERIA_GUIDE, DENSE_DPO_CRITERIA, buildCaptionPrompt, buildComparePrompt } from '../../src/vlm/prompts.js';

describe('prompts', () => {
  it('describes the media, the order, the prompt and one criterion', () => {
    const t = buildComparePrompt({ kind: 'frames', criteria: 'motion', prompt: 'a cat jumps', framesShown: 4, frameLayout: 'grid', context: 'This is segment 2 of 3.' });
    expect(t).toContain('one grid of 4 frames per clip, in time order left to right, then top to bottom');
    expect(t).toContain('The FIRST clip is shown first, then the SECOND clip.');
    expect(t).toContain('This is segment 2 of 3.');
    expect(t).toContain('"a cat jumps"');
    expect(t).toContain(CRITERIA_GUIDE.motion);
    expect(t).not.toContain(CRITERIA_GUIDE['visual quality']);
    expect(t).toMatch(/"preference": "first" \| "second" \| "tie"/);
  });
  it('has a guide for each DenseDPO criterion, and passes free-text criteria through', () => {
    for (const c of DENSE_DPO_CRITERIA) expect(CRITERIA_GUIDE[c]).toBeTruthy();
    expect(buildComparePrompt({ kind: 'image', criteria: 'hands look natural' })).toContain('Judge on: hands look natural.');
    expect(buildComparePrompt({ kind: 'image' })).toContain(CRITERIA_GUIDE.overall);
  });
  it('asks captions with the original prompt for DCPO-c', () => {
    expect(buildCaptionPrompt(undefined, 'two red apples')).toMatch(/^This image was generated for the prompt "two red apples"\..*\{"caption": "<the caption>"\}\.$/);
    expect(buildCaptionPrompt('Name the main object.')).toBe('Name the main object. Reply with only a JSON object: {"caption": "<the caption>"}.');
  });
});
