/**
 * Model ids become file names and identifiers in generated code, so they are reduced to a safe,
 * bounded alphabet first: lowercase `[a-z0-9-]`, `/` (the Hugging Face namespace separator) as `--`,
 * every other run of characters as a single `-`.
 */
import { createHash } from 'node:crypto';
import { CoreError, ErrorCode } from '../errors';

export const MAX_SLUG_LENGTH = 96;
/** What a valid slug looks like: segments of [a-z0-9] joined by `-` (or `--` for a namespace). */
export const SLUG_PATTERN = /^[a-z0-9]+(?:--?[a-z0-9]+)*$/;

function slugPart(part: string): string {
  return part
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * `bert-base-uncased` → `bert-base-uncased`; `sentence-transformers/all-MiniLM-L6-v2` →
 * `sentence-transformers--all-minilm-l6-v2`. Ids longer than {@link MAX_SLUG_LENGTH} keep a prefix
 * and gain an 8-hex-digit hash of the full id, so distinct long ids stay distinct.
 */
export function slugify(id: string): string {
  if (typeof id !== 'string') throw new CoreError(ErrorCode.VALIDATION, 'model id must be a string');
  const slug = id
    .split('/')
    .map(slugPart)
    .filter((p) => p.length > 0)
    .join('--');
  if (!slug) {
    throw new CoreError(
      ErrorCode.VALIDATION,
      `model id ${JSON.stringify(id)} has no letters or digits to name files by`,
    );
  }
  if (slug.length <= MAX_SLUG_LENGTH) return slug;
  const hash = createHash('sha256').update(id, 'utf8').digest('hex').slice(0, 8);
  const head = slug.slice(0, MAX_SLUG_LENGTH - 9).replace(/-+$/, '');
  return `${head}-${hash}`;
}

/** Throws CoreError(VALIDATION) unless `slug` is something {@link slugify} could have produced. */
export function assertSlug(slug: string): string {
  if (typeof slug !== 'string' || slug.length > MAX_SLUG_LENGTH || !SLUG_PATTERN.test(slug)) {
    throw new CoreError(
      ErrorCode.VALIDATION,
      `invalid slug ${JSON.stringify(slug)}: use slugify(id) (lowercase [a-z0-9-], at most ${MAX_SLUG_LENGTH} characters)`,
    );
  }
  return slug;
}
