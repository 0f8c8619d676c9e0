import { CoreError, ErrorCode } from '../../../libs/core/src/errors';
import { admit } from './job-queue';

function refusal(fn: () => void): CoreError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CoreError) return err;
    throw err;
  }
  throw new Error('admitted');
}

describe('admit (queue depth)', () => {
  it('admits while waiting + count stays within the depth', () => {
    expect(() => admit('test', 0, 1, 1, undefined)).not.toThrow();
    expect(() => admit('test', 3, 2, 5, undefined)).not.toThrow();
  });

  it('refuses beyond the depth with QUEUE_FULL and a Retry-After from the drain rate', () => {
    const e = refusal(() => admit('test', 5, 1, 5, 0.25));
    expect(e.code).toBe(ErrorCode.QUEUE_FULL);
    // One job too many at a quarter of a job per second: about 4 s.
    expect(e.details).toEqual({ queue: 'test', waiting: 5, max_depth: 5, retry_after_s: 4 });
    expect(e.message).toContain('QUEUE_MAX_DEPTH 5');
  });

  it('counts every job of a request, and keeps the estimate within 1 to 60 s', () => {
    expect(refusal(() => admit('g', 1, 2, 2, 1000)).details).toMatchObject({ retry_after_s: 1 });
    expect(refusal(() => admit('g', 100, 2, 100, 0.001)).details).toMatchObject({ retry_after_s: 60 });
    expect(refusal(() => admit('g', 2, 1, 2, undefined)).details).toMatchObject({ retry_after_s: 5 });
  });

  it('refuses a request larger than the whole queue as UNPROCESSABLE (retrying cannot help)', () => {
    const e = refusal(() => admit('generator', 0, 3, 2, undefined));
    expect(e.code).toBe(ErrorCode.UNPROCESSABLE);
    expect(e.details).toEqual({ queue: 'generator', count: 3, max_depth: 2 });
  });
});
