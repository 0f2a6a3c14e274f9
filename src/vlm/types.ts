/**
 * The `Judge` contract shared by VLM judges, programmatic reward judges and panels.
 * @module
 */
import type * as tf from '@tensorflow/tfjs';

/** Which of two items a judge prefers. */
export type Preference = 'first' | 'second' | 'tie';

/** One piece of media to judge: an image or a run of video frames. */
export type JudgeMedia =
  /** An image: a file path, encoded bytes, or a float tensor `[H, W, 3]` in [-1, 1]. */
  | { kind: 'image'; path?: string; bytes?: Uint8Array; tensor?: tf.Tensor }
  /** Aligned video frames: a float tensor `[T, H, W, 3]` in [-1, 1], or frame image files. */
  | { kind: 'frames'; tensor?: tf.Tensor; paths?: string[]; fps?: number };

/** What a judge is asked. */
export interface JudgeRequest {
  first: JudgeMedia;
  second: JudgeMedia;
  /** The generation prompt, when there is one. */
  prompt?: string;
  /** What to judge on, e.g. 'visual quality', 'motion', 'prompt alignment'. */
  criteria?: string;
  /** Extra text for the judge, e.g. which segment of a video this is. */
  context?: string;
}

/** A judge's verdict. */
export interface Judgement {
  preference: Preference;
  /** In [0, 1]. */
  confidence: number;
  rationale: string;
  /** Raw scores of first and second, when the judge has them (reward judges). */
  scores?: [number, number];
  /** Probability in [0, 1] that the first is preferred (a soft label for SmPO), when the judge sets it. */
  p?: number;
  /** True when the answer came from the on-disk cache rather than a new request. */
  cached?: boolean;
  /** With both orders asked: whether the two orders agreed on the direction. */
  positionConsistent?: boolean;
  /** For panels: the fraction of judges that voted for the panel's preference. */
  agreement?: number;
}

/** Anything that compares two items. */
export interface Judge {
  /** Stable identifier (used in cache keys): model name, or function name + version. */
  readonly id: string;
  compare(request: JudgeRequest, options?: { signal?: AbortSignal }): Promise<Judgement>;
}
