/**
 * A terminal progress bar for trainer events (cli-progress): step, loss, accuracy, steps/s, ETA.
 * @module
 */
import cliProgress from 'cli-progress';
import type { TrainerEvent, TrainerEventHandler } from './events.js';

/** Options of {@link createProgressBar}. */
export interface ProgressBarOptions {
  /** Output stream (default process.stderr). */
  stream?: NodeJS.WritableStream;
  /** Draw even when the stream is not a TTY (default false: print one line per log instead). */
  forceTTY?: boolean;
  /** Label before the bar (default `train`). */
  label?: string;
}

function fmt(v: number | undefined, digits = 4): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(digits);
}

/**
 * An event handler that draws a progress bar (or, off a TTY, prints one line per logged step).
 * Pass it to `trainer.train(handler)` or call it from your own event loop.
 * @returns the handler; it stops the bar on `done`.
 * @example
 * await trainer.train(createProgressBar());
 */
export function createProgressBar(opts: ProgressBarOptions = {}): TrainerEventHandler {
  const stream = opts.stream ?? process.stderr;
  const label = opts.label ?? 'train';
  const tty = opts.forceTTY ?? Boolean((stream as NodeJS.WriteStream).isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let startStep: number | null = null;
  let loss: number | undefined;
  let acc: number | undefined;
  return (e: TrainerEvent) => {
    if (e.type === 'step') {
      if (e.metrics) {
        loss = e.metrics.loss;
        acc = e.metrics['rewards/accuracies'];
      }
      if (startStep === null) startStep = e.step - 1;
      const rate = e.elapsedMs > 0 ? ((e.step - startStep) * 1000) / e.elapsedMs : 0;
      const payload = { loss: fmt(loss), acc: fmt(acc, 3), rate: rate.toFixed(2) };
      if (tty) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream,
              format: `${label} [{bar}] {value}/{total} | loss {loss} | acc {acc} | {rate} steps/s | ETA {eta_formatted}`,
              hideCursor: true,
              etaBuffer: 20,
              noTTYOutput: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.maxSteps, startStep, payload);
        }
        bar.update(e.step, payload);
      } else if (e.metrics) {
        stream.write(`${label} step ${e.step}/${e.maxSteps} | loss ${payload.loss} | acc ${payload.acc} | ${payload.rate} steps/s\n`);
      }
    } else if (e.type === 'eval') {
      const line = Object.entries(e.metrics)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(' | ');
      if (bar) bar.stop();
      bar = null;
      stream.write(`${label} eval @${e.step}: ${line}\n`);
    } else if (e.type === 'done') {
      if (bar) {
        bar.update(e.step);
        bar.stop();
        bar = null;
      }
      stream.write(`${label} done at step ${e.step} (${e.reason}) in ${(e.elapsedMs / 1000).toFixed(1)} s${e.nonFiniteSteps ? `, ${e.nonFiniteSteps} non-finite steps skipped` : ''}\n`);
    }
  };
}
