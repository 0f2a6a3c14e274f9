/**
 * VLM helpers: judges (OpenAI-compatible vision models, reward functions, panels), reliable and
 * resumable labelling of image pairs and video segments, captions for DCPO, and agreement with
 * human labels.
 * @module
 */
export type { Preference, JudgeMedia, JudgeRequest, Judgement, Judge } from './types.js';
export { JudgementReplySchema, CaptionReplySchema, extractJson, parseReply } from './schema.js';
export type { JudgementReply, CaptionReply } from './schema.js';
export { encodeMedia, sampleFrameIndices } from './media.js';
export type { EncodeOptions, EncodedMedia, FrameLayout } from './media.js';
export { backoffDelay, parseRetryAfter } from './retry.js';
export type { RetryPolicy } from './retry.js';
export { JudgeCache, cacheKey as judgeCacheKey } from './cache.js';
export type { CacheEntry as JudgeCacheEntry } from './cache.js';
export {
  PROMPT_VERSION as JUDGE_PROMPT_VERSION,
  DENSE_DPO_CRITERIA,
  CRITERIA_GUIDE,
  JUDGE_SYSTEM_PROMPT,
  buildComparePrompt,
  buildCaptionPrompt,
  buildReaskPrompt,
} from './prompts.js';
export type { ComparePromptInput } from './prompts.js';
export {
  preferenceProbability,
  preferenceFromProbability,
  flipPreference,
  flipJudgement,
  reconcileOrders,
  bothOrdersJudge,
  functionJudge,
  aggregateJudgements,
  panelJudge,
} from './judges.js';
export type { FunctionJudgeOptions, PanelOptions } from './judges.js';
export { openAIJudge, OpenAIJudgeOptionsSchema, scrubSecrets } from './openai-judge.js';
export type { OpenAIJudgeOptions, OpenAIJudge, JudgeEvent, JudgeStats } from './openai-judge.js';
export { agreement, labelCategory, AGREEMENT_CATEGORIES } from './agreement.js';
export type { AgreementResult, LabelValue } from './agreement.js';
export { labelPairs, labelSegments, captionImage, captionPairs, toJudgeMedia, segmentBounds } from './label.js';
export type {
  MediaInput,
  LabelPairRecord,
  PairLabel,
  LabelFailure,
  LabelSummary,
  LabelEvent,
  LabelPairsOptions,
  LabelPairsResult,
  SegmentVideoInput,
  LabelSegmentsOptions,
  SegmentLabel,
  LabelSegmentsResult,
  Captioner,
  CaptionPairsOptions,
  CaptionedPair,
} from './label.js';
