import { JSON_BODY_LIMITS, jsonBodyProblem, jsonTextProblem } from './edge-errors';

/** A value nested `depth` levels, built without recursion. */
function nested(depth: number): unknown {
  let v: unknown = {};
  for (let i = 1; i < depth; i++) v = [v];
  return v;
}

describe('jsonBodyProblem', () => {
  it('accepts what the request DTOs take, and scalars', () => {
    expect(
      jsonBodyProblem({ models: [{ model_name: 'bert', hardware: ['cpu', 'webgpu'] }] }),
    ).toBeUndefined();
    expect(jsonBodyProblem('text')).toBeUndefined();
    expect(jsonBodyProblem(null)).toBeUndefined();
  });

  it('bounds depth at exactly maxDepth, iteratively (a million levels do not overflow the stack)', () => {
    expect(jsonBodyProblem(nested(JSON_BODY_LIMITS.maxDepth))).toBeUndefined();
    expect(jsonBodyProblem(nested(JSON_BODY_LIMITS.maxDepth + 1))).toMatchObject({
      status: 400,
      details: { limit: 'depth', max: 32 },
    });
    expect(jsonBodyProblem(nested(1_000_000))).toMatchObject({ status: 400, details: { limit: 'depth' } });
  });

  it('bounds one array at maxArrayLength and all keys and items at maxNodes', () => {
    expect(jsonBodyProblem({ a: Array(JSON_BODY_LIMITS.maxArrayLength).fill(1) })).toBeUndefined();
    expect(jsonBodyProblem({ a: Array(JSON_BODY_LIMITS.maxArrayLength + 1).fill(1) })).toMatchObject({
      status: 413,
      details: { limit: 'array_length', max: 1000 },
    });
    const wide = Array.from({ length: 11 }, () => Array(1000).fill(0));
    expect(jsonBodyProblem(wide)).toMatchObject({ status: 413, details: { limit: 'keys', max: 10_000 } });
    const keys = Object.fromEntries(Array.from({ length: 10_001 }, (_, i) => [`k${i}`, i]));
    expect(jsonBodyProblem(keys)).toMatchObject({ status: 413, details: { limit: 'keys' } });
  });
});

describe('jsonTextProblem (before JSON.parse)', () => {
  const limit = (value: unknown) => jsonTextProblem(JSON.stringify(value))?.details.limit;

  it('agrees with the parsed check at each bound', () => {
    expect(limit(nested(32))).toBeUndefined();
    expect(limit(nested(33))).toBe('depth');
    expect(limit({ a: Array(1000).fill(1) })).toBeUndefined();
    expect(limit({ a: Array(1001).fill(1) })).toBe('array_length');
    expect(limit(Array.from({ length: 11 }, () => Array(1000).fill(0)))).toBe('keys');
    // An object's keys do not count against the array bound.
    expect(limit(Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`k${i}`, i])))).toBeUndefined();
  });

  it('does not count brackets and commas inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: '['.repeat(100) + ','.repeat(20_000) + '\\"{{{' });
    expect(jsonTextProblem(text)).toBeUndefined();
    expect(jsonTextProblem('["\\\\", ' + '['.repeat(40) + ']'.repeat(40) + ']')).toMatchObject({
      details: { limit: 'depth' },
    });
  });
});
