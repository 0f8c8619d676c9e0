/**
 * Plots with uPlot (canvas; tens of thousands of points stay fast). Latency distributions are binned
 * here, in the browser, in one O(n) pass into at most HISTOGRAM_BINS bins: the canvas draws the bins,
 * never the raw samples, so a configuration with 100,000 latencies draws as fast as one with 100.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export const HISTOGRAM_BINS = 60;

const COLORS = ['#2563eb', '#dc2626', '#16a34a', '#9333ea', '#ea580c', '#0891b2', '#4d7c0f', '#be185d'];

export interface Series {
  label: string;
  /** One value per x (null where this series has none). */
  values: (number | null)[];
}

export interface Histogram {
  /** Bin centres (ms). */
  centers: number[];
  /** Count per bin, one array per sample. */
  counts: number[][];
  width: number;
  /** Samples above the range's upper end, not drawn (the long tail beyond p99). */
  above: number;
}

/** Min and max of several samples, without spreading them onto the stack (100,000 elements). */
function extent(samples: readonly (readonly number[])[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const s of samples)
    for (const v of s) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return [lo, hi];
}

/**
 * Common bins for several samples (so they overlay), one pass per sample. `upTo` (e.g. the p99 the
 * server computed) ends the range below a long tail, which would otherwise squeeze the body of the
 * distribution into one bin; the samples above it are counted in `above`.
 */
export function histogram(
  samples: readonly (readonly number[])[],
  upTo?: number,
  bins = HISTOGRAM_BINS,
): Histogram {
  const [lo, max] = extent(samples);
  if (!Number.isFinite(lo)) return { centers: [], counts: samples.map(() => []), width: 0, above: 0 };
  const top = upTo !== undefined && upTo > lo && upTo < max ? upTo : max;
  const hi = top > lo ? top : lo + 1e-6;
  const width = (hi - lo) / bins;
  const centers = Array.from({ length: bins }, (_, i) => lo + (i + 0.5) * width);
  let above = 0;
  const counts = samples.map((s) => {
    const c = new Array<number>(bins).fill(0);
    for (const v of s) {
      if (v > hi) above += 1;
      else c[Math.min(bins - 1, Math.floor((v - lo) / width))]! += 1;
    }
    return c;
  });
  return { centers, counts, width, above };
}

interface ChartProps {
  title: string;
  xLabel: string;
  yLabel: string;
  x: number[];
  series: Series[];
  bars?: boolean;
  logX?: boolean;
  height?: number;
}

/** One uPlot chart in a labelled figure. */
export function Chart({ title, xLabel, yLabel, x, series, bars, logX, height = 260 }: ChartProps) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el || x.length === 0) return;
    const barPaths = bars ? uPlot.paths.bars!({ size: [0.9, 40] }) : undefined;
    const opts: uPlot.Options = {
      width: Math.max(320, el.clientWidth || 640),
      height,
      scales: { x: { time: false, distr: logX ? 3 : 1, log: 2 } },
      axes: [{ label: xLabel }, { label: yLabel }],
      series: [
        { label: xLabel },
        ...series.map((s, i) => ({
          label: s.label,
          stroke: COLORS[i % COLORS.length],
          fill: bars ? `${COLORS[i % COLORS.length]}55` : undefined,
          width: bars ? 1 : 2,
          points: { show: !bars },
          spanGaps: true,
          paths: barPaths,
        })),
      ],
    };
    const plot = new uPlot(opts, [x, ...series.map((s) => s.values)] as uPlot.AlignedData, el);
    const resize = () => plot.setSize({ width: Math.max(320, el.clientWidth), height });
    window.addEventListener('resize', resize);
    return () => {
      window.removeEventListener('resize', resize);
      plot.destroy();
    };
  }, [x, series, bars, logX, height, xLabel, yLabel]);
  return (
    <figure class="chart" aria-label={title}>
      <figcaption>{title}</figcaption>
      {x.length === 0 ? <p class="muted">no data</p> : <div ref={host} role="img" aria-label={title} />}
    </figure>
  );
}

/** Several series over the union of their x values (uPlot wants one sorted x array). */
export function alignSeries(points: { label: string; xy: [number, number | null][] }[]): {
  x: number[];
  series: Series[];
} {
  const xs = [...new Set(points.flatMap((p) => p.xy.map(([x]) => x)))].sort((a, b) => a - b);
  return {
    x: xs,
    series: points.map((p) => {
      const m = new Map(p.xy);
      return { label: p.label, values: xs.map((x) => m.get(x) ?? null) };
    }),
  };
}
