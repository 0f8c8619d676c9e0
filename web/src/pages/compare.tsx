/** Two benchmark runs side by side: the verdict, each configuration's ratio and interval, and an overlay plot. */
import { useMemo, useState } from 'preact/hooks';
import type { ConfigurationComparison } from '../../../libs/core/src/benchmark/types';
import { api, type BenchmarkResults, type Comparison, query } from '../api';
import { alignSeries, Chart, histogram } from '../charts';
import { navigate } from '../router';
import { fmt, Problem, useLoad } from '../use-api';
import { type Configuration, configurationsOf } from './benchmark-results';

interface Loaded {
  cmp: Comparison;
  base: BenchmarkResults;
  cand: BenchmarkResults;
}

async function load(baseline: string, candidate: string): Promise<Loaded> {
  const [cmp, base, cand] = await Promise.all([
    api<Comparison>(`/api/benchmark/compare${query({ baseline, candidate })}`),
    api<BenchmarkResults>(`/api/benchmark/results/${encodeURIComponent(baseline)}`),
    api<BenchmarkResults>(`/api/benchmark/results/${encodeURIComponent(candidate)}`),
  ]);
  return { cmp, base, cand };
}

const same = (c: ConfigurationComparison) => (x: Configuration) =>
  x.backend === c.backend && x.batch_size === c.batch_size && x.sequence_length === c.sequence_length;

function Overlay({ data, index }: { data: Loaded; index: number }) {
  const c = (data.cmp.configurations as unknown as ConfigurationComparison[])[index];
  const plots = useMemo(() => {
    if (!c) return null;
    const b = configurationsOf(data.base).find(
      (x) => same(c)(x) && (x.model_id ?? x.model) === (c.model_id ?? x.model),
    );
    const k = configurationsOf(data.cand).find(
      (x) => same(c)(x) && (x.model_id ?? x.model) === (c.model_id ?? x.model),
    );
    const p99 = Math.max(b?.stats?.p99 ?? 0, k?.stats?.p99 ?? 0) || undefined;
    const h = histogram([b?.latencies_ms ?? [], k?.latencies_ms ?? []], p99);
    const rounds = alignSeries([
      { label: 'baseline', xy: (b?.round_medians_ms ?? []).map((m, i) => [i + 1, m] as [number, number]) },
      { label: 'candidate', xy: (k?.round_medians_ms ?? []).map((m, i) => [i + 1, m] as [number, number]) },
    ]);
    return {
      above: h.above,
      hist: {
        x: h.centers,
        series: [
          { label: 'baseline', values: h.counts[0] ?? [] },
          { label: 'candidate', values: h.counts[1] ?? [] },
        ],
      },
      rounds,
    };
  }, [data, c]);
  if (!c || !plots) return null;
  return (
    <>
      <Chart
        title={`Latency distributions, baseline over candidate (up to the larger p99; ${plots.above} above)`}
        xLabel="latency (ms)"
        yLabel="iterations"
        bars
        {...plots.hist}
      />
      <Chart
        title="Round medians, baseline and candidate"
        xLabel="round"
        yLabel="median (ms)"
        {...plots.rounds}
      />
    </>
  );
}

export function ComparePage({ params }: { params: URLSearchParams }) {
  const baseline = params.get('baseline') ?? '';
  const candidate = params.get('candidate') ?? '';
  const [draft, setDraft] = useState({ baseline, candidate });
  const [index, setIndex] = useState(0);
  const data = useLoad(
    () => (baseline && candidate ? load(baseline, candidate) : Promise.resolve(undefined)),
    [baseline, candidate],
  );
  const rows = (data.data?.cmp.configurations ?? []) as unknown as ConfigurationComparison[];
  return (
    <section>
      <h1>Compare two benchmark runs</h1>
      <form
        class="filters"
        onSubmit={(e) => {
          e.preventDefault();
          navigate('compare', draft);
        }}
      >
        <label>
          Baseline run
          <input
            name="baseline"
            required
            value={draft.baseline}
            onInput={(e) => setDraft({ ...draft, baseline: e.currentTarget.value })}
          />
        </label>
        <label>
          Candidate run
          <input
            name="candidate"
            required
            value={draft.candidate}
            onInput={(e) => setDraft({ ...draft, candidate: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Compare</button>
      </form>
      <Problem error={data.error} />
      {data.data && (
        <>
          <p class={`verdict verdict-${data.data.cmp.verdict}`} data-testid="verdict">
            Verdict: <strong>{data.data.cmp.verdict}</strong>
          </p>
          <p>{data.data.cmp.reason}</p>
          <p class="muted">
            threshold {fmt(data.data.cmp.threshold)} · confidence {fmt(data.data.cmp.confidence)} · statistic{' '}
            {data.data.cmp.statistic}
          </p>
          <table>
            <caption>Per configuration: candidate / baseline (below 1 is faster)</caption>
            <thead>
              <tr>
                <th scope="col">Configuration</th>
                <th scope="col">Baseline median (ms)</th>
                <th scope="col">Candidate median (ms)</th>
                <th scope="col">Ratio</th>
                <th scope="col">Interval</th>
                <th scope="col">Noise floor (base / cand)</th>
                <th scope="col">Verdict</th>
                <th scope="col">Plot</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((c, i) => (
                <tr key={i}>
                  <th scope="row">
                    {c.model}/{c.backend}/b{c.batch_size}
                    {c.sequence_length !== null ? `/s${c.sequence_length}` : ''}
                  </th>
                  <td class="num">{fmt(c.baseline_median_ms)}</td>
                  <td class="num">{fmt(c.candidate_median_ms)}</td>
                  <td class="num">{fmt(c.ratio)}</td>
                  <td class="num">{c.ratio_ci ? `[${fmt(c.ratio_ci[0])}, ${fmt(c.ratio_ci[1])}]` : '—'}</td>
                  <td class="num">
                    {fmt(c.baseline_noise_cv)} / {fmt(c.candidate_noise_cv)}
                  </td>
                  <td title={c.reason}>{c.verdict}</td>
                  <td>
                    <button type="button" aria-pressed={i === index} onClick={() => setIndex(i)}>
                      Show
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <div class="charts">
            <Overlay data={data.data} index={index} />
          </div>
        </>
      )}
    </section>
  );
}
