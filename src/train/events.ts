/**
 * The trainer's typed event stream: a union keyed on `type`.
 * @module
 */

/** Emitted after every optimizer step; `metrics` only at log steps (the only host syncs). */
export interface StepEvent {
  readonly type: 'step';
  /** Optimizer steps done so far (1-based after the first step). */
  readonly step: number;
  /** The run's total steps. */
  readonly maxSteps: number;
  /** Learning rate used for this step. */
  readonly lr: number;
  /** Wall time since the run (or resume) started, ms. */
  readonly elapsedMs: number;
  /**
   * Means over the steps since the last log, present every `logEvery` steps and on the last step:
   * `loss`, the loss's own metrics (`rewards/accuracies`, `rewards/margins`, ...), `grad_norm`, `lr`,
   * `non_finite_steps` (running total of skipped steps).
   */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** Emitted after the evaluation hook ran. */
export interface EvalEvent {
  readonly type: 'eval';
  readonly step: number;
  /** Whatever the hook returned. */
  readonly metrics: Readonly<Record<string, number>>;
}

/** Emitted after a checkpoint was written (atomically). */
export interface CheckpointEvent {
  readonly type: 'checkpoint';
  readonly step: number;
  /** The checkpoint directory. */
  readonly path: string;
}

/** Why a run ended. */
export type DoneReason = 'completed' | 'stopped' | 'non-finite';

/** Always the last event of a run. */
export interface DoneEvent {
  readonly type: 'done';
  readonly step: number;
  /** `completed`: reached maxSteps; `stopped`: stop() was called; `non-finite`: too many skipped steps. */
  readonly reason: DoneReason;
  /** Steps skipped because the loss or gradient was not finite. */
  readonly nonFiniteSteps: number;
  readonly elapsedMs: number;
  /** The last logged metrics. */
  readonly metrics?: Readonly<Record<string, number>>;
}

/** Any trainer event. */
export type TrainerEvent = StepEvent | EvalEvent | CheckpointEvent | DoneEvent;

/** A consumer of trainer events (may be async: the trainer awaits it). */
export type TrainerEventHandler = (event: TrainerEvent) => void | Promise<void>;
