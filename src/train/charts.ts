/**
 * Training curves as PNG, drawn from metrics.jsonl with vega-lite, rendered headless to SVG by vega
 * and rasterised by sharp.
 * @module
 */
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import * as vega from 'vega';
import * as vegaLite from 'vega-lite';
import { ConfigError } from '../errors.js';
import { readMetricsFile, type MetricsRecord } from './metrics.js';

/** Metrics charted by default, each to its own file (`/` becomes `_`). */
export const DEFAULT_CHART_METRICS = ['loss', 'rewards/accuracies', 'rewards/margins'] as const;

/** Options of {@link renderCharts}. */
export interface ChartOptions {
  /** Metric names to draw (default {@link DEFAULT_CHART_METRICS}); absent ones are skipped. */
  metrics?: readonly string[];
  /** Chart width in CSS pixels (default 480). */
  width?: number;
  /** Chart height (default 240). */
  height?: number;
  /** Raster scale factor (default 2). */
  scale?: number;
}

/**
 * Render one line chart (metric against step) to SVG text.
 * @param records - metric records (`type: 'step'` lines are used).
 * @param metric - the metric name.
 * @returns the SVG document, or null when no record has a finite value for it.
 */
export async function renderMetricSvg(records: readonly MetricsRecord[], metric: string, opts: ChartOptions = {}): Promise<string | null> {
  const values = records
    .filter((r) => r.type === 'step' && typeof r[metric] === 'number' && Number.isFinite(r[metric] as number))
    .map((r) => ({ step: r.step, value: r[metric] as number }));
  if (values.length === 0) return null;
  const spec: vegaLite.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: metric,
    width: opts.width ?? 480,
    height: opts.height ?? 240,
    background: 'white',
    data: { values },
    mark: { type: 'line', point: values.length <= 60 },
    encoding: {
      x: { field: 'step', type: 'quantitative', title: 'step' },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
    },
  };
  const compiled = vegaLite.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Draw training curves from a metrics JSONL file to PNG files, one per metric.
 * @param metricsFile - a `metrics.jsonl` written by the trainer.
 * @param outDir - where the PNGs go (created if needed): `loss.png`, `rewards_accuracies.png`, ...
 * @param opts - metrics, size and scale.
 * @returns the files written.
 * @throws {ConfigError} when the metrics file is unreadable or malformed.
 * @example
 * await renderCharts('runs/a/metrics.jsonl', 'runs/a/charts');
 */
export async function renderCharts(metricsFile: string, outDir: string, opts: ChartOptions = {}): Promise<string[]> {
  let records: MetricsRecord[];
  try {
    records = await readMetricsFile(metricsFile);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new ConfigError(`No metrics file at ${metricsFile}: run training with an outputDir first.`, { source: metricsFile });
    throw e;
  }
  await fsp.mkdir(outDir, { recursive: true });
  const written: string[] = [];
  for (const metric of opts.metrics ?? DEFAULT_CHART_METRICS) {
    const svg = await renderMetricSvg(records, metric, opts);
    if (!svg) continue;
    const file = path.join(outDir, `${metric.replace(/[^A-Za-z0-9_-]+/g, '_')}.png`);
    await sharp(Buffer.from(svg), { density: 72 * (opts.scale ?? 2) }).png().toFile(file);
    written.push(file);
  }
  return written;
}
