/**
 * Start a generation, test or benchmark. The form does no validation of its own: the API's rules
 * decide, and its 4xx messages are shown next to the fields they name (the rest above the form).
 */
import { useState } from 'preact/hooks';
import { api, ApiFailure, ROUTES, type Suite, SUITES } from '../api';
import { href, navigate } from '../router';

type Kind = 'text' | 'list' | 'numbers' | 'number' | 'backends' | 'bool' | 'choice';

interface Field {
  name: string;
  label: string;
  kind: Kind;
  hint?: string;
  initial?: string;
  choices?: string[];
}

const BACKENDS = ['cpu', 'cuda', 'webgpu'];

const FORMS: Record<Suite, Field[]> = {
  benchmark: [
    {
      name: 'model_name',
      label: 'Model',
      kind: 'text',
      hint: 'a registry id, a generated model or a path',
      initial: 'bert',
    },
    { name: 'hardware', label: 'Backends', kind: 'backends', initial: 'cpu' },
    { name: 'batch_sizes', label: 'Batch sizes', kind: 'numbers', hint: 'comma-separated', initial: '1,2' },
    {
      name: 'sequence_lengths',
      label: 'Sequence lengths',
      kind: 'numbers',
      hint: 'comma-separated',
      initial: '8',
    },
    { name: 'min_iterations', label: 'Minimum iterations', kind: 'number', initial: '10' },
    { name: 'min_duration_s', label: 'Minimum duration (s)', kind: 'number', initial: '0.5' },
    { name: 'rounds', label: 'Rounds', kind: 'number', initial: '' },
    { name: 'tags', label: 'Tags', kind: 'list', hint: 'comma-separated', initial: '' },
  ],
  test: [
    { name: 'model_name', label: 'Model', kind: 'text', initial: 'bert' },
    { name: 'hardware', label: 'Backends', kind: 'backends', initial: 'cpu' },
    {
      name: 'test_type',
      label: 'Test type',
      kind: 'choice',
      choices: ['basic', 'comprehensive', 'fault_tolerance'],
      initial: 'basic',
    },
  ],
  generator: [
    { name: 'model_name', label: 'Model', kind: 'text', initial: 'bert' },
    { name: 'hardware', label: 'Backends', kind: 'backends', initial: 'cpu' },
    { name: 'force', label: 'Overwrite an existing output', kind: 'bool', initial: '' },
  ],
};

/** Comma lists become arrays; a number field that is not a number goes as typed, for the API to judge. */
function bodyOf(fields: Field[], values: Record<string, string>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const num = (s: string): unknown => (s.trim() !== '' && Number.isFinite(Number(s)) ? Number(s) : s.trim());
  for (const f of fields) {
    const v = values[f.name] ?? '';
    if (f.kind === 'bool') {
      if (v) body[f.name] = true;
      continue;
    }
    if (v.trim() === '') continue;
    const items = v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (f.kind === 'numbers') body[f.name] = items.map(num);
    else if (f.kind === 'list' || f.kind === 'backends') body[f.name] = items;
    else if (f.kind === 'number') body[f.name] = num(v);
    else body[f.name] = v.trim();
  }
  return body;
}

/** Which field a validation message is about: messages start with the property path. */
function fieldOf(message: string, fields: Field[]): string | undefined {
  const head = message.split(/[\s.]/, 1)[0] ?? '';
  const named = fields.find((f) => f.name === head)?.name;
  if (named) return named;
  if (/^property (\S+)/.test(message)) return undefined;
  return fields.find((f) => message.includes(f.name))?.name;
}

export function StartPage({ suite, params }: { suite: Suite; params: URLSearchParams }) {
  const fields = FORMS[suite] ?? FORMS.benchmark;
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(fields.map((f) => [f.name, params.get(f.name) ?? f.initial ?? ''])),
  );
  const [errors, setErrors] = useState<Record<string, string[]>>({});
  const [general, setGeneral] = useState<string[]>([]);
  const [busy, setBusy] = useState(false);
  const set = (name: string, v: string) => setValues((s) => ({ ...s, [name]: v }));

  const submit = async () => {
    setBusy(true);
    setErrors({});
    setGeneral([]);
    try {
      const r = await api<{ run_id?: string; task_id?: string }>(ROUTES[suite].start, {
        method: 'POST',
        body: bodyOf(fields, values),
      });
      navigate(`run/${suite}/${r.run_id ?? r.task_id}`);
    } catch (err) {
      if (!(err instanceof ApiFailure)) {
        setGeneral([String(err)]);
        return;
      }
      const byField: Record<string, string[]> = {};
      const rest: string[] = [];
      for (const m of err.status === 400 ? err.messages : [err.message]) {
        const f = fieldOf(m, fields);
        if (f) byField[f] = [...(byField[f] ?? []), m];
        else rest.push(m);
      }
      setErrors(byField);
      setGeneral(rest.map((m) => `${err.status}: ${m}`));
      // Focus the first field the API complained about, for keyboard and screen-reader users.
      const first = fields.find((f) => byField[f.name]);
      if (first) document.getElementById(`f-${first.name}`)?.focus();
    } finally {
      setBusy(false);
    }
  };

  return (
    <section>
      <h1>Start</h1>
      <nav class="tabs" aria-label="What to start">
        {SUITES.map((s) => (
          <a key={s} href={href(`start/${s}`)} aria-current={s === suite ? 'page' : undefined}>
            {s === 'generator' ? 'generation' : s}
          </a>
        ))}
      </nav>
      {general.length > 0 && (
        <div class="error" role="alert" data-testid="form-error">
          {general.map((m) => (
            <p key={m}>{m}</p>
          ))}
        </div>
      )}
      <form
        class="start"
        aria-label={`Start a ${suite}`}
        noValidate
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        {fields.map((f) => {
          const errs = errors[f.name];
          const describedBy =
            [f.hint ? `h-${f.name}` : '', errs ? `e-${f.name}` : ''].filter(Boolean).join(' ') || undefined;
          return (
            <div class="field" key={f.name}>
              {f.kind === 'backends' ? (
                <fieldset
                  id={`f-${f.name}`}
                  tabIndex={-1}
                  aria-invalid={errs ? true : undefined}
                  aria-describedby={describedBy}
                >
                  <legend>{f.label}</legend>
                  {BACKENDS.map((b) => {
                    const chosen = values[f.name]!.split(',').filter(Boolean);
                    return (
                      <label key={b} class="inline">
                        <input
                          type="checkbox"
                          name={f.name}
                          value={b}
                          checked={chosen.includes(b)}
                          onChange={(e) =>
                            set(
                              f.name,
                              (e.currentTarget.checked ? [...chosen, b] : chosen.filter((x) => x !== b)).join(
                                ',',
                              ),
                            )
                          }
                        />
                        {b}
                      </label>
                    );
                  })}
                </fieldset>
              ) : f.kind === 'bool' ? (
                <label class="inline">
                  <input
                    id={`f-${f.name}`}
                    type="checkbox"
                    name={f.name}
                    checked={values[f.name] === 'true'}
                    onChange={(e) => set(f.name, e.currentTarget.checked ? 'true' : '')}
                  />
                  {f.label}
                </label>
              ) : f.kind === 'choice' ? (
                <>
                  <label for={`f-${f.name}`}>{f.label}</label>
                  <select
                    id={`f-${f.name}`}
                    name={f.name}
                    value={values[f.name]}
                    onChange={(e) => set(f.name, e.currentTarget.value)}
                  >
                    {f.choices!.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                </>
              ) : (
                <>
                  <label for={`f-${f.name}`}>{f.label}</label>
                  <input
                    id={`f-${f.name}`}
                    name={f.name}
                    value={values[f.name]}
                    aria-invalid={errs ? true : undefined}
                    aria-describedby={describedBy}
                    onInput={(e) => set(f.name, e.currentTarget.value)}
                  />
                </>
              )}
              {f.hint && (
                <small id={`h-${f.name}`} class="muted">
                  {f.hint}
                </small>
              )}
              {errs && (
                <p id={`e-${f.name}`} class="field-error" data-testid={`error-${f.name}`}>
                  {errs.join('; ')}
                </p>
              )}
            </div>
          );
        })}
        <button type="submit" disabled={busy}>
          {busy ? 'Starting…' : `Start ${suite === 'generator' ? 'generation' : suite}`}
        </button>
      </form>
    </section>
  );
}
