/** Runs of one suite, newest first, filtered on the server (status, model, backend, tag) and paged by cursor. */
import { useState } from 'preact/hooks';
import { api, type Page, query, ROUTES, type Suite, SUITES } from '../api';
import { href, navigate } from '../router';
import { fmt, Problem, useLoad } from '../use-api';

const STATUSES = ['', 'queued', 'running', 'completed', 'failed', 'cancelled', 'timeout'];
const BACKENDS = ['', 'cpu', 'cuda', 'webgpu'];
const FILTERS = ['status', 'model', 'backend', 'tag'] as const;
export const PAGE_SIZE = 50;

export function RunsPage({ suite, params }: { suite: Suite; params: URLSearchParams }) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, params.get(f) ?? ''])) as Record<
    (typeof FILTERS)[number],
    string
  >;
  const cursor = params.get('cursor') ?? undefined;
  // Cursors of the pages before this one (for "Previous"), carried in the URL.
  const back = (params.get('back') ?? '').split(',').filter(Boolean);
  const page = useLoad(
    () => api<Page>(`${ROUTES[suite].list}${query({ ...filters, cursor, limit: PAGE_SIZE })}`),
    [suite, params.toString()],
  );
  const [draft, setDraft] = useState(filters);
  const go = (extra: Record<string, string | undefined>) =>
    navigate(`runs/${suite}`, { ...filters, ...extra });
  return (
    <section>
      <h1>Runs</h1>
      <nav class="tabs" aria-label="Suites">
        {SUITES.map((s) => (
          <a key={s} href={href(`runs/${s}`, filters)} aria-current={s === suite ? 'page' : undefined}>
            {s}
          </a>
        ))}
      </nav>
      <form
        class="filters"
        aria-label="Filter runs"
        onSubmit={(e) => {
          e.preventDefault();
          navigate(`runs/${suite}`, draft);
        }}
      >
        <label>
          Status
          <select
            name="status"
            value={draft.status}
            onChange={(e) => setDraft({ ...draft, status: e.currentTarget.value })}
          >
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Model
          <input
            name="model"
            value={draft.model}
            onInput={(e) => setDraft({ ...draft, model: e.currentTarget.value })}
          />
        </label>
        <label>
          Backend
          <select
            name="backend"
            value={draft.backend}
            onChange={(e) => setDraft({ ...draft, backend: e.currentTarget.value })}
          >
            {BACKENDS.map((s) => (
              <option key={s} value={s}>
                {s || 'any'}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tag
          <input
            name="tag"
            value={draft.tag}
            onInput={(e) => setDraft({ ...draft, tag: e.currentTarget.value })}
          />
        </label>
        <button type="submit">Filter</button>
        <a class="button" href={href(`start/${suite}`)}>
          Start a {suite === 'generator' ? 'generation' : suite}
        </a>
      </form>
      <Problem error={page.error} />
      {page.data && (
        <>
          <table class="runs">
            <caption>
              {suite} runs, newest first{page.loading ? ' (loading)' : ''}
            </caption>
            <thead>
              <tr>
                <th scope="col">Run</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
                <th scope="col">Elapsed (s)</th>
              </tr>
            </thead>
            <tbody>
              {page.data.items.map((r) => (
                <tr key={r.id}>
                  <td>
                    <a href={href(`run/${suite}/${r.id}`)}>{r.id}</a>
                  </td>
                  <td>{r.model_name}</td>
                  <td class={`status-${r.status}`}>{r.status}</td>
                  <td class="num">{Math.round(r.progress * 100)}%</td>
                  <td>{r.created_at}</td>
                  <td class="num">{fmt(r.elapsed_s)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {page.data.items.length === 0 && <p class="muted">No runs match.</p>}
          <div class="pager">
            <button
              type="button"
              disabled={back.length === 0 && !cursor}
              onClick={() =>
                go({ cursor: back[back.length - 1], back: back.slice(0, -1).join(',') || undefined })
              }
            >
              Previous page
            </button>
            <button
              type="button"
              disabled={!page.data.next_cursor}
              onClick={() =>
                go({
                  cursor: page.data!.next_cursor ?? undefined,
                  back: [...back, cursor ?? ''].filter((c, i) => c || i > 0).join(',') || undefined,
                })
              }
            >
              Next page
            </button>
          </div>
        </>
      )}
    </section>
  );
}
