/** A benchmark's results: configurations as a table and as plots (distribution, batch and sequence sweeps, per-token times). */
import { useMemo, useState } from 'preact/hooks';
import type { ConfigurationResult } from '../../../libs/core/src/benchmark/types';
import type { BenchmarkResults } from '../api';
import { alignSeries, Chart, histogram, HISTOGRAM_BINS } from '../charts';
import { fmt } from '../use-api';

/** A stored configuration; `per_token_ms` only on results of generative runs that time each token. */
export type Configuration = ConfigurationResult & { per_token_ms?: number[] };

export function configurationsOf(r: BenchmarkResults): Configuration[] {
  return r.configurations as unknown as Configuration[];
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const m = new Map<string, T[]>();
  for (const i of items) m.set(key(i), [...(m.get(key(i)) ?? []), i]);
  return m;
}

export function LatencyHistogram({ configs }: { configs: Configuration[] }) {
  const [selected, setSelected] = useState(0);
  const config = configs[Math.min(selected, configs.length - 1)];
  const plot = useMemo(() => {
    const h = histogram([config?.latencies_ms ?? []], config?.stats?.p99);
    return {
      above: h.above,
      chart: { x: h.centers, series: [{ label: config?.label ?? '', values: h.counts[0] ?? [] }] },
    };
  }, [config]);
  if (!config) return null;
  return (
    <div>
      <label>
        Configuration{' '}
        <select value={selected} onChange={(e) => setSelected(Number(e.currentTarget.value))}>
          {configs.map((c, i) => (
            <option key={c.label} value={i}>
              {c.label}
            </option>
          ))}
        </select>
      </label>
      <Chart
        title={`Latency distribution of ${config.label} (${fmt(config.latencies_ms.length)} samples in ${HISTOGRAM_BINS} bins up to p99; ${plot.above} above)`}
        xLabel="latency (ms)"
        yLabel="iterations"
        bars
        {...plot.chart}
      />
    </div>
  );
}

export function BenchmarkView({ r }: { r: BenchmarkResults }) {
  const configs = configurationsOf(r);
  const ok = configs.filter((c) => c.status === 'ok' && c.stats);
  const sweeps = useMemo(() => {
    const byBatch = [
      ...groupBy(ok, (c) => `${c.model_id ?? c.model}/${c.backend}/s${c.sequence_length ?? '-'}`),
    ];
    const bySeq = [
      ...groupBy(
        ok.filter((c) => c.sequence_length !== null),
        (c) => `${c.model}/${c.backend}/b${c.batch_size}`,
      ),
    ];
    const label = (k: string, cs: Configuration[]) =>
      `${cs[0]!.model}/${cs[0]!.backend}${k.slice(k.lastIndexOf('/'))}`;
    return {
      latencyVsBatch: alignSeries(
        byBatch.map(([k, cs]) => ({
          label: label(k, cs),
          xy: cs.map((c) => [c.batch_size, c.stats!.p50] as [number, number]),
        })),
      ),
      throughputVsBatch: alignSeries(
        byBatch.map(([k, cs]) => ({
          label: label(k, cs),
          xy: cs.map((c) => [c.batch_size, c.throughput_items_per_sec] as [number, number | null]),
        })),
      ),
      latencyVsSeq: alignSeries(
        bySeq.map(([k, cs]) => ({
          label: label(k, cs),
          xy: cs.map((c) => [c.sequence_length!, c.stats!.p50] as [number, number]),
        })),
      ),
      throughputVsSeq: alignSeries(
        bySeq.map(([k, cs]) => ({
          label: label(k, cs),
          xy: cs.map((c) => [c.sequence_length!, c.throughput_items_per_sec] as [number, number | null]),
        })),
      ),
      perToken: alignSeries(
        ok
          .filter((c) => Array.isArray(c.per_token_ms) && c.per_token_ms.length > 0)
          .map((c) => ({
            label: c.label,
            xy: c.per_token_ms!.map((ms, i) => [i + 1, ms] as [number, number]),
          })),
      ),
    };
  }, [r]);
  return (
    <div>
      <h2>Configurations</h2>
      <table>
        <caption>Benchmark configurations (latencies in ms; throughput in items/s)</caption>
        <thead>
          <tr>
            <th scope="col">Configuration</th>
            <th scope="col">Graph</th>
            <th scope="col">Status</th>
            <th scope="col">n</th>
            <th scope="col">p50</th>
            <th scope="col">p90</th>
            <th scope="col">p99</th>
            <th scope="col">mean</th>
            <th scope="col">CV %</th>
            <th scope="col">Throughput</th>
            <th scope="col">Rounds</th>
            <th scope="col">Noise CV</th>
            <th scope="col">Load (ms)</th>
          </tr>
        </thead>
        <tbody>
          {configs.map((c) => (
            <tr key={c.label}>
              <th scope="row">{c.label}</th>
              <td title="precision and graph flavour that ran">
                {c.precision}
                {c.graph && c.graph !== 'unknown' ? ` ${c.graph}` : ''}
              </td>
              <td
                class={c.status === 'ok' ? 'pass' : c.status === 'skipped' ? 'skip' : 'fail'}
                title={c.reason}
              >
                {c.status}
                {c.reason ? `: ${c.reason}` : ''}
              </td>
              <td class="num">{fmt(c.stats?.count)}</td>
              <td class="num">{fmt(c.stats?.p50)}</td>
              <td class="num">{fmt(c.stats?.p90)}</td>
              <td class="num">{fmt(c.stats?.p99)}</td>
              <td class="num">{fmt(c.stats?.mean)}</td>
              <td class="num">{fmt(c.stats?.cv_percent)}</td>
              <td class="num">{fmt(c.throughput_items_per_sec)}</td>
              <td class="num">{fmt(c.rounds?.length)}</td>
              <td class="num">{fmt(c.noise_cv)}</td>
              <td class="num">{fmt(c.load_ms)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <h2>Plots</h2>
      <div class="charts" data-testid="benchmark-plots">
        <LatencyHistogram configs={ok} />
        <Chart
          title="Median latency against batch size"
          xLabel="batch size"
          yLabel="p50 (ms)"
          logX
          {...sweeps.latencyVsBatch}
        />
        <Chart
          title="Throughput against batch size"
          xLabel="batch size"
          yLabel="items/s"
          logX
          {...sweeps.throughputVsBatch}
        />
        <Chart
          title="Median latency against sequence length"
          xLabel="sequence length"
          yLabel="p50 (ms)"
          logX
          {...sweeps.latencyVsSeq}
        />
        <Chart
          title="Throughput against sequence length"
          xLabel="sequence length"
          yLabel="items/s"
          logX
          {...sweeps.throughputVsSeq}
        />
        {sweeps.perToken.x.length > 0 && (
          <Chart title="Time per generated token" xLabel="token" yLabel="ms" {...sweeps.perToken} />
        )}
      </div>
      <details>
        <summary>Environment</summary>
        <pre>{JSON.stringify(r.environment, null, 2)}</pre>
      </details>
    </div>
  );
}
