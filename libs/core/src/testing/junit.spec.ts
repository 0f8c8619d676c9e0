import { renderJUnit, xmlEscape } from './junit';
import type { TestResults } from './types';

/**
 * A strict little XML well-formedness checker: one root, properly nested and closed tags,
 * quoted attributes without raw `<` or `&`, only the five predefined entities (or numeric
 * ones), no forbidden control characters. Returns the element tree.
 */
interface XmlNode {
  name: string;
  attrs: Record<string, string>;
  children: XmlNode[];
  text: string;
}
function parseXml(xml: string): XmlNode {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml)) throw new Error('forbidden control character');
  const unescape = (s: string) => {
    if (/&(?!(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(s)) throw new Error(`bad entity in ${s}`);
    return s
      .replace(/&lt;/g, '<')
      .replace(/&gt;/g, '>')
      .replace(/&quot;/g, '"')
      .replace(/&apos;/g, "'")
      .replace(/&amp;/g, '&');
  };
  let i = 0;
  const body = xml.replace(/^<\?xml[^?]*\?>\s*/, '');
  const stack: XmlNode[] = [];
  let root: XmlNode | undefined;
  while (i < body.length) {
    if (body[i] === '<') {
      const end = body.indexOf('>', i);
      if (end < 0) throw new Error('unterminated tag');
      const tag = body.slice(i + 1, end);
      i = end + 1;
      if (tag.startsWith('/')) {
        const open = stack.pop();
        if (!open || open.name !== tag.slice(1).trim()) throw new Error(`mismatched </${tag.slice(1)}>`);
        continue;
      }
      const selfClosing = tag.endsWith('/');
      const m = /^([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*\/?$/.exec(tag);
      if (!m) throw new Error(`malformed tag <${tag}>`);
      const attrs: Record<string, string> = {};
      for (const a of m[2]!.matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
        if (a[1]! in attrs) throw new Error(`duplicate attribute ${a[1]}`);
        attrs[a[1]!] = unescape(a[2]!);
      }
      const node: XmlNode = { name: m[1]!, attrs, children: [], text: '' };
      if (stack.length) stack[stack.length - 1]!.children.push(node);
      else if (root) throw new Error('more than one root');
      else root = node;
      if (!selfClosing) stack.push(node);
    } else {
      const next = body.indexOf('<', i);
      const text = body.slice(i, next < 0 ? body.length : next);
      i = next < 0 ? body.length : next;
      if (!stack.length) {
        if (text.trim()) throw new Error('text outside the root');
        continue;
      }
      stack[stack.length - 1]!.text += unescape(text);
    }
  }
  if (stack.length) throw new Error(`unclosed <${stack[stack.length - 1]!.name}>`);
  if (!root) throw new Error('no root');
  return root;
}

const nasty = 'a < b && c > "d" \'e\' \u0001bell\u0007 ]]> done';

const results: TestResults = {
  status: 'failed',
  model_name: 'bert & <friends>',
  hardware: ['cpu', 'webgpu', 'cuda'],
  test_type: 'comprehensive',
  started_at: '2026-01-01T00:00:00.000Z',
  completed_at: '2026-01-01T00:00:01.000Z',
  duration_s: 1.25,
  summary: { tests_passed: 2, tests_failed: 1, tests_skipped: 1 },
  test_details: [
    {
      name: 'load',
      backend: 'cpu',
      status: 'passed',
      duration_ms: 12.5,
      metrics: { load_ms: 12.5, note: '<x>' },
    },
    { name: 'golden_io', backend: 'cpu', status: 'failed', duration_ms: 3.25, message: nasty },
    { name: 'inference', backend: 'webgpu', status: 'passed', duration_ms: 1000 },
    {
      name: 'detect',
      backend: 'cuda',
      status: 'skipped',
      duration_ms: 0,
      message: 'cuda unavailable: "libonnxruntime_providers_cuda.so" missing',
    },
  ],
  performance_metrics: { cpu: { latency_ms: 0.5, throughput_items_per_sec: 4000, memory_mb: 150 } },
};

describe('renderJUnit', () => {
  it('renders well-formed JUnit XML with one suite per backend', () => {
    const xml = renderJUnit(results);
    expect(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n')).toBe(true);
    const root = parseXml(xml);
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({
      tests: '4',
      failures: '1',
      skipped: '1',
      name: 'bert & <friends> comprehensive',
    });
    expect(root.children.map((s) => s.attrs.name)).toEqual([
      'bert & <friends> [cpu]',
      'bert & <friends> [webgpu]',
      'bert & <friends> [cuda]',
    ]);
    const cpu = root.children[0]!;
    expect(cpu.attrs).toMatchObject({ tests: '2', failures: '1', skipped: '0', time: '0.016' });
    expect(cpu.children[0]!.name).toBe('properties');
    const cases = cpu.children.filter((c) => c.name === 'testcase');
    expect(cases.map((c) => [c.attrs.classname, c.attrs.name])).toEqual([
      ['bert & <friends>.cpu', 'load'],
      ['bert & <friends>.cpu', 'golden_io'],
    ]);
    expect(cases[0]!.children.map((c) => c.name)).toEqual(['system-out']);
    expect(JSON.parse(cases[0]!.children[0]!.text)).toEqual({ load_ms: 12.5, note: '<x>' });
    const failure = cases[1]!.children[0]!;
    expect(failure.name).toBe('failure');
    expect(failure.attrs.message).toBe('a < b && c > "d" \'e\' bell ]]> done');
    expect(failure.text).toBe(failure.attrs.message);
    const skipped = root.children[2]!.children[0]!.children[0]!;
    expect(skipped).toMatchObject({
      name: 'skipped',
      attrs: { message: 'cuda unavailable: "libonnxruntime_providers_cuda.so" missing' },
    });
  });

  it('the checker itself rejects malformed XML', () => {
    expect(() => parseXml('<a><b></a></b>')).toThrow(/mismatched/);
    expect(() => parseXml('<a x="1 < 2"/>')).toThrow(/malformed/);
    expect(() => parseXml('<a>&nbsp;</a>')).toThrow(/bad entity/);
    expect(() => parseXml('<a/><b/>')).toThrow(/more than one root/);
    expect(xmlEscape('\uD800x&')).toBe('x&amp;');
  });
});
