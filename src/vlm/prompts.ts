/**
 * Prompts for pairwise judging (images and DenseDPO-style video segments) and captioning.
 * The wording is ours: DenseDPO (Wu et al., 2025, arXiv 2506.03517) labels short segments on
 * visual quality, motion and prompt alignment with an off-the-shelf VLM, but its prompt is not
 * published.
 * @module
 */

/** Bumped whenever prompt wording changes, so cached answers to old wording are not reused. */
export const PROMPT_VERSION = 1;

/** The three DenseDPO-style segment criteria. */
export const DENSE_DPO_CRITERIA = ['visual quality', 'motion', 'prompt alignment'] as const;

/** What each well-known criterion means, told to the model. */
export const CRITERIA_GUIDE: Readonly<Record<string, string>> = {
  'visual quality':
    'Judge visual quality only: sharpness, detail, absence of artifacts, distortions, deformed objects or faces, noise, blur, colour banding and flicker.',
  motion:
    'Judge motion only: natural, smooth and physically plausible movement, temporal consistency of objects across frames, no jitter, warping, sudden jumps or frozen frames. Do not prefer a clip merely because it moves less.',
  'prompt alignment':
    'Judge prompt alignment only: how faithfully the content (objects, attributes, counts, actions, style, scene) matches the prompt.',
  overall: 'Judge overall: image quality, aesthetics and faithfulness to the prompt together.',
};

/** The system message for comparisons. */
export const JUDGE_SYSTEM_PROMPT =
  'You are a careful, impartial judge of generated images and videos. You compare two candidates, ' +
  'ignore their order of presentation, and answer only with a JSON object.';

/** What a comparison prompt is built from. */
export interface ComparePromptInput {
  prompt?: string;
  criteria?: string;
  /** `image` or `frames`. */
  kind: 'image' | 'frames';
  /** Extra context, e.g. which segment this is. */
  context?: string;
  /** Frames shown per candidate (for frames). */
  framesShown?: number;
  /** How frames are laid out (for frames). */
  frameLayout?: 'grid' | 'strip' | 'separate';
}

/**
 * The user-message text for comparing two candidates. The images follow in this order:
 * the FIRST candidate's image(s), then the SECOND's.
 * @param input - prompt, criteria and media description.
 * @returns the instruction text.
 */
export function buildComparePrompt(input: ComparePromptInput): string {
  const criteria = input.criteria?.trim() || 'overall';
  const guide = CRITERIA_GUIDE[criteria] ?? `Judge on: ${criteria}.`;
  const lines: string[] = [];
  if (input.kind === 'frames') {
    const n = input.framesShown ?? 4;
    const how =
      input.frameLayout === 'separate'
        ? `${n} separate images per clip, in time order`
        : input.frameLayout === 'strip'
          ? `one strip of ${n} frames per clip, in time order from left to right`
          : `one grid of ${n} frames per clip, in time order left to right, then top to bottom`;
    lines.push(`Compare two video clips of the same length, shown as sampled frames (${how}).`);
    lines.push('The FIRST clip is shown first, then the SECOND clip.');
  } else {
    lines.push('Compare two images. The FIRST image is shown first, then the SECOND image.');
  }
  if (input.context) lines.push(input.context);
  if (input.prompt) lines.push(`They were generated for the prompt: ${JSON.stringify(input.prompt)}`);
  lines.push(guide);
  lines.push(
    'Reply with only a JSON object: {"rationale": "<one or two sentences>", "preference": "first" | "second" | "tie", ' +
      '"confidence": <number from 0 to 1>}. Use "tie" when neither is clearly better.',
  );
  return lines.join('\n');
}

/** The re-ask sent after an invalid reply. */
export function buildReaskPrompt(problem: string, fields: string): string {
  return `Your previous reply could not be used: ${problem} Reply again with only a JSON object ${fields}, no other text.`;
}

/**
 * The user-message text for captioning an image (DCPO's captioning strategy: caption each image
 * given the original prompt, so the caption says what the image actually shows).
 * @param instruction - optional replacement for the default instruction.
 * @param prompt - the prompt the image was generated for, when known.
 */
export function buildCaptionPrompt(instruction?: string, prompt?: string): string {
  const context = prompt
    ? `This image was generated for the prompt ${JSON.stringify(prompt)}. Describe what the image actually shows, keeping the prompt's wording where it is accurate and correcting it where it is not. `
    : '';
  return (
    context +
    (instruction ??
      'Write one detailed sentence usable as a text-to-image prompt: subjects, attributes, counts, actions, setting and style.') +
    ' Reply with only a JSON object: {"caption": "<the caption>"}.'
  );
}
