/** JUnit XML for CI systems: one testsuite per backend, one testcase per check. */
import type { TestDetail, TestResults } from './types';

/** Escapes text for XML attributes and content, dropping characters XML 1.0 forbids. */
export function xmlEscape(value: unknown): string {
  return (
    String(value)
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

function testcase(model: string, d: TestDetail): string {
  const open = `    <testcase classname="${xmlEscape(`${model}.${d.backend}`)}" name="${xmlEscape(d.name)}" time="${seconds(d.duration_ms)}"`;
  const body: string[] = [];
  if (d.status === 'failed') {
    body.push(
      `      <failure message="${xmlEscape(d.message ?? 'failed')}" type="AssertionError">${xmlEscape(d.message ?? '')}</failure>`,
    );
  } else if (d.status === 'skipped') {
    body.push(`      <skipped message="${xmlEscape(d.message ?? 'skipped')}"/>`);
  }
  if (d.metrics && Object.keys(d.metrics).length) {
    body.push(`      <system-out>${xmlEscape(JSON.stringify(d.metrics))}</system-out>`);
  }
  return body.length ? `${open}>\n${body.join('\n')}\n    </testcase>` : `${open}/>`;
}

export function renderJUnit(results: TestResults): string {
  const backends = [...new Set([...results.hardware, ...results.test_details.map((d) => d.backend)])];
  const suites = backends.map((backend) => {
    const cases = results.test_details.filter((d) => d.backend === backend);
    const failures = cases.filter((d) => d.status === 'failed').length;
    const skipped = cases.filter((d) => d.status === 'skipped').length;
    const time = cases.reduce((a, d) => a + d.duration_ms, 0);
    const perf = results.performance_metrics[backend];
    const props = perf
      ? [
          '    <properties>',
          ...Object.entries(perf).map(
            ([k, v]) => `      <property name="${xmlEscape(k)}" value="${xmlEscape(v)}"/>`,
          ),
          '    </properties>',
        ]
      : [];
    return [
      `  <testsuite name="${xmlEscape(`${results.model_name} [${backend}]`)}" tests="${cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(time)}" timestamp="${xmlEscape(results.started_at)}">`,
      ...props,
      ...cases.map((d) => testcase(results.model_name, d)),
      '  </testsuite>',
    ].join('\n');
  });
  const s = results.summary;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xmlEscape(`${results.model_name} ${results.test_type}`)}" tests="${s.tests_passed + s.tests_failed + s.tests_skipped}" failures="${s.tests_failed}" errors="0" skipped="${s.tests_skipped}" time="${results.duration_s.toFixed(3)}">`,
    ...suites,
    '</testsuites>',
    '',
  ].join('\n');
}
