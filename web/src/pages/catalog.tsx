/** Hardware (backends, availability, reasons) and models (registry and generated, with manifests and CIDs). */
import { api, type Backend, type GenerationResults, type ModelListing, type Page, query } from '../api';
import { href } from '../router';
import { fmt, Problem, useLoad } from '../use-api';

export function HardwarePage() {
  const hw = useLoad(() => api<{ backends: Backend[] }>('/api/hardware'), []);
  return (
    <section>
      <h1>Hardware</h1>
      <Problem error={hw.error} />
      {hw.data && (
        <table>
          <caption>Backends this server offers</caption>
          <thead>
            <tr>
              <th scope="col">Backend</th>
              <th scope="col">Available</th>
              <th scope="col">Reason</th>
              <th scope="col">Execution provider</th>
              <th scope="col">onnxruntime</th>
              <th scope="col">Device</th>
            </tr>
          </thead>
          <tbody>
            {hw.data.backends.map((b) => (
              <tr key={b.name}>
                <th scope="row">{b.name}</th>
                <td class={b.available ? 'pass' : 'fail'}>{b.available ? 'yes' : 'no'}</td>
                <td>{b.reason ?? ''}</td>
                <td>{b.execution_provider}</td>
                <td>{b.onnxruntime_version}</td>
                <td>
                  <code>{b.device ? JSON.stringify(b.device) : ''}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The newest completed generations and their results (manifest, CID). */
async function generated(): Promise<GenerationResults[]> {
  const page = await api<Page>(`/api/generator/tasks${query({ status: 'completed', limit: 20 })}`);
  return Promise.all(page.items.map((t) => api<GenerationResults>(`/api/generator/results/${t.id}`)));
}

export function ModelsPage() {
  const models = useLoad(() => api<ModelListing[]>('/api/models'), []);
  const gen = useLoad(generated, []);
  return (
    <section>
      <h1>Models</h1>
      <h2>Registry</h2>
      <Problem error={models.error} />
      {models.data && (
        <table>
          <caption>Known models</caption>
          <thead>
            <tr>
              <th scope="col">Id</th>
              <th scope="col">Family</th>
              <th scope="col">Type</th>
              <th scope="col">Parameters</th>
            </tr>
          </thead>
          <tbody>
            {models.data.map((m) => (
              <tr key={m.id}>
                <th scope="row">{m.id}</th>
                <td>{m.family}</td>
                <td>{m.model_type}</td>
                <td class="num">{fmt(m.parameters)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h2>Generated (newest 20)</h2>
      <Problem error={gen.error} />
      {gen.data && gen.data.length === 0 && <p class="muted">No completed generations yet.</p>}
      {gen.data?.map((g) => (
        <details key={g.task_id}>
          <summary>
            {g.model_name} · {g.family} · {g.precision} · <code>{g.cid}</code>
          </summary>
          <p>
            <a href={href(`run/generator/${g.task_id}`)}>task {g.task_id}</a> · {g.file_path}
          </p>
          <pre>{JSON.stringify(g.manifest, null, 2)}</pre>
        </details>
      ))}
    </section>
  );
}
