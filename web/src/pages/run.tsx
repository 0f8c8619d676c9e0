/** One run: live status over the WebSocket (progress, step, ETA, cancel), then its results. */
import { useEffect, useState } from 'preact/hooks';
import {
  api,
  ApiFailure,
  type BenchmarkResults,
  type GenerationResults,
  type OperationStatus,
  ROUTES,
  socketUrl,
  type Suite,
  type TestResults,
} from '../api';
import { href } from '../router';
import { fmt, Problem, useLoad } from '../use-api';
import { BenchmarkView } from './benchmark-results';

const TERMINAL = ['completed', 'failed', 'cancelled', 'timeout'];

/** The status, pushed by the server over the WebSocket; read once over HTTP when the socket cannot open. */
function useLiveStatus(
  suite: Suite,
  id: string,
): { status?: OperationStatus; error?: string; live: boolean } {
  const [status, setStatus] = useState<OperationStatus>();
  const [error, setError] = useState<string>();
  const [live, setLive] = useState(false);
  useEffect(() => {
    let closed = false;
    const ws = new WebSocket(socketUrl(suite, id));
    ws.onopen = () => setLive(true);
    ws.onmessage = (ev) => {
      const msg = JSON.parse(String(ev.data)) as Partial<OperationStatus> & { error?: unknown };
      if (typeof msg.error === 'string') setError(msg.error);
      else if (msg.id && msg.status) setStatus(msg as OperationStatus);
    };
    ws.onclose = () => {
      setLive(false);
      if (closed) return;
      // Closed at the end of the run (1000) or refused: read the final status over HTTP.
      api<OperationStatus>(`${ROUTES[suite].status}${encodeURIComponent(id)}`).then(
        setStatus,
        (err: unknown) => setError(err instanceof ApiFailure ? err.message : String(err)),
      );
    };
    return () => {
      closed = true;
      // Closing a socket that is still connecting logs an error in the browser: close it once open.
      if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close();
      else ws.close();
    };
  }, [suite, id]);
  return { status, error, live };
}

function Progress({ status }: { status: OperationStatus }) {
  const pct = Math.round(status.progress * 100);
  return (
    <div class="progress-block">
      <progress max={100} value={pct} aria-label="Progress">
        {pct}%
      </progress>
      <span class="num" data-testid="progress-pct">
        {pct}%
      </span>
      <dl class="facts">
        <dt>Status</dt>
        <dd class={`status-${status.status}`} data-testid="run-status">
          {status.status}
        </dd>
        <dt>Current step</dt>
        <dd data-testid="current-step">{status.current_step ?? '—'}</dd>
        <dt>ETA</dt>
        <dd>{status.eta_s === null ? '—' : `${fmt(status.eta_s)} s`}</dd>
        <dt>Elapsed</dt>
        <dd>{status.elapsed_s === null ? '—' : `${fmt(status.elapsed_s)} s`}</dd>
      </dl>
      {status.error && (
        <p class="error" role="alert">
          {status.error.code}: {status.error.message}
        </p>
      )}
    </div>
  );
}

export function RunPage({ suite, id }: { suite: Suite; id: string }) {
  const { status, error, live } = useLiveStatus(suite, id);
  const [cancelMsg, setCancelMsg] = useState<string>();
  const done = status && TERMINAL.includes(status.status);
  const cancel = async () => {
    try {
      const r = await api<{ cancelled: boolean }>(`${ROUTES[suite].cancel}${encodeURIComponent(id)}`, {
        method: 'POST',
      });
      setCancelMsg(r.cancelled ? 'Cancel requested.' : 'Nothing to cancel: the run already finished.');
    } catch (err) {
      setCancelMsg(err instanceof ApiFailure ? err.message : String(err));
    }
  };
  return (
    <section>
      <h1>
        {suite} run <code>{id}</code>
      </h1>
      <p class="muted">
        {status?.model_name} · <span data-testid="live">{live ? 'live' : 'not live'}</span> · created{' '}
        {status?.created_at}
        {suite === 'benchmark' && status?.status === 'completed' && (
          <>
            {' '}
            · <a href={href('compare', { baseline: id })}>compare with another run</a>
          </>
        )}
      </p>
      <Problem error={error} />
      {status && <Progress status={status} />}
      {status && !done && (
        <button type="button" class="danger" onClick={() => void cancel()}>
          Cancel run
        </button>
      )}
      {cancelMsg && <p role="status">{cancelMsg}</p>}
      {status?.status === 'completed' && <Results suite={suite} id={id} />}
    </section>
  );
}

function Results({ suite, id }: { suite: Suite; id: string }) {
  const res = useLoad(() => api<unknown>(`${ROUTES[suite].results}${encodeURIComponent(id)}`), [suite, id]);
  if (res.error) return <Problem error={res.error} />;
  if (!res.data) return <p class="muted">Loading results…</p>;
  if (suite === 'test') return <TestView r={res.data as TestResults} />;
  if (suite === 'benchmark') return <BenchmarkView r={res.data as BenchmarkResults} />;
  const g = res.data as GenerationResults;
  return (
    <div>
      <h2>Generated</h2>
      <dl class="facts">
        <dt>CID</dt>
        <dd>
          <code>{g.cid}</code>
        </dd>
        <dt>Family</dt>
        <dd>{g.family}</dd>
        <dt>Template</dt>
        <dd>{g.template}</dd>
        <dt>Parameters</dt>
        <dd>{fmt(g.parameters)}</dd>
        <dt>Files</dt>
        <dd>{g.file_path}</dd>
      </dl>
      <details>
        <summary>Manifest</summary>
        <pre>{JSON.stringify(g.manifest, null, 2)}</pre>
      </details>
    </div>
  );
}

function TestView({ r }: { r: TestResults }) {
  return (
    <div>
      <h2>
        Checks: <span class={r.status === 'passed' ? 'pass' : 'fail'}>{r.status}</span>
      </h2>
      <p>
        {r.summary.tests_passed} passed · {r.summary.tests_failed} failed · {r.summary.tests_skipped} skipped
        · {fmt(r.duration_s)} s
      </p>
      <table>
        <caption>Test checks</caption>
        <thead>
          <tr>
            <th scope="col">Check</th>
            <th scope="col">Backend</th>
            <th scope="col">Result</th>
            <th scope="col">Time (ms)</th>
            <th scope="col">Message</th>
          </tr>
        </thead>
        <tbody>
          {r.test_details.map((d, i) => (
            <tr key={i}>
              <th scope="row">{d.name}</th>
              <td>{d.backend}</td>
              <td class={d.status === 'passed' ? 'pass' : d.status === 'failed' ? 'fail' : 'skip'}>
                {d.status}
              </td>
              <td class="num">{fmt(d.duration_ms)}</td>
              <td>{d.message ?? ''}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
