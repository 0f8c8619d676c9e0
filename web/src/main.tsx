/** The dashboard: hardware, models, runs, one run (live), compare, start forms. */
import { render } from 'preact';
import { useState } from 'preact/hooks';
import { apiKey, setApiKey, SUITES } from './api';
import { href, useRoute } from './router';
import { HardwarePage, ModelsPage } from './pages/catalog';
import { RunsPage } from './pages/runs';
import { RunPage } from './pages/run';
import { ComparePage } from './pages/compare';
import { StartPage } from './pages/start';
import './style.css';

function KeyField() {
  const [value, setValue] = useState(apiKey());
  const [saved, setSaved] = useState(false);
  return (
    <form
      class="key"
      onSubmit={(e) => {
        e.preventDefault();
        setApiKey(value.trim());
        setSaved(true);
        location.reload();
      }}
    >
      <label for="api-key">API key</label>
      <input
        id="api-key"
        type="password"
        autocomplete="off"
        value={value}
        placeholder="(none)"
        onInput={(e) => {
          setValue(e.currentTarget.value);
          setSaved(false);
        }}
      />
      <button type="submit">{saved ? 'Saved' : 'Use key'}</button>
    </form>
  );
}

function View() {
  const route = useRoute();
  const [page = 'runs', a, b] = route.parts;
  switch (page) {
    case 'hardware':
      return <HardwarePage />;
    case 'models':
      return <ModelsPage />;
    case 'run':
      return a && b ? <RunPage suite={a as never} id={b} key={`${a}/${b}`} /> : <p>no run</p>;
    case 'compare':
      return <ComparePage params={route.params} />;
    case 'start':
      return <StartPage suite={(a ?? 'benchmark') as never} params={route.params} key={a} />;
    case 'runs':
    default:
      return (
        <RunsPage suite={(SUITES.includes(a as never) ? a : 'benchmark') as never} params={route.params} />
      );
  }
}

function App() {
  return (
    <>
      {/* Hash routes: the skip link moves focus itself instead of changing the hash. */}
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <header>
        <strong>IPFS Accelerate</strong>
        <nav aria-label="Main">
          <a href={href('runs/benchmark')}>Benchmarks</a>
          <a href={href('runs/test')}>Tests</a>
          <a href={href('runs/generator')}>Generations</a>
          <a href={href('compare')}>Compare</a>
          <a href={href('start/benchmark')}>Start</a>
          <a href={href('hardware')}>Hardware</a>
          <a href={href('models')}>Models</a>
        </nav>
        <KeyField />
      </header>
      <main id="main" tabIndex={-1}>
        <View />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
