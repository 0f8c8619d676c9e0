import { CoreError, ErrorCode } from '../errors';
import { MAX_SLUG_LENGTH, SLUG_PATTERN, assertSlug, slugify } from './slug';

describe('slugify', () => {
  it.each([
    ['bert-base-uncased', 'bert-base-uncased'],
    ['sentence-transformers/all-MiniLM-L6-v2', 'sentence-transformers--all-minilm-l6-v2'],
    ['meta-llama/Llama-3.1-8B', 'meta-llama--llama-3-1-8b'],
    ['google/t5_small', 'google--t5-small'],
    ['  Weird  Name!!  ', 'weird-name'],
    ['Café/Ünïcode', 'cafe--unicode'],
    ["x'; process.exit(1); //", 'x-process-exit-1'],
    ['../../etc/passwd', 'etc--passwd'],
  ])('%s → %s', (id, slug) => {
    expect(slugify(id)).toBe(slug);
    expect(assertSlug(slug)).toBe(slug);
  });

  it('bounds the length and keeps long ids distinct', () => {
    const a = slugify('org/' + 'a'.repeat(300));
    const b = slugify('org/' + 'a'.repeat(301));
    expect(a.length).toBeLessThanOrEqual(MAX_SLUG_LENGTH);
    expect(b.length).toBeLessThanOrEqual(MAX_SLUG_LENGTH);
    expect(a).not.toBe(b);
    expect(a).toMatch(SLUG_PATTERN);
  });

  it('refuses ids with nothing to name a file by', () => {
    expect(() => slugify('///')).toThrow(CoreError);
    expect(() => slugify('!!!')).toThrow(expect.objectContaining({ code: ErrorCode.VALIDATION }) as Error);
  });

  it.each(['', 'UPPER', 'a/b', '../x', '-lead', 'trail-', 'a---b', 'x'.repeat(MAX_SLUG_LENGTH + 1), 'a b'])(
    'assertSlug refuses %j',
    (slug) => {
      expect(() => assertSlug(slug)).toThrow(
        expect.objectContaining({ code: ErrorCode.VALIDATION }) as Error,
      );
    },
  );
});
