import { batchPerTurn } from './batch-per-turn';

const settle = (p: Promise<void>) =>
  p.then(
    () => 'ok',
    (e: Error) => `failed: ${e.message}`,
  );

describe('batchPerTurn', () => {
  it('flushes the items of one turn together and the next turn’s apart', async () => {
    const calls: number[][] = [];
    const add = batchPerTurn<number>(async (items) => void calls.push(items));
    await Promise.all([add(1), add(2), add(3)]);
    await add(4);
    expect(calls).toEqual([[1, 2, 3], [4]]);
  });

  it('settles no caller before its batch is flushed', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const add = batchPerTurn<number>(() => gate);
    let done = false;
    const p = add(1).then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    release();
    await p;
    expect(done).toBe(true);
  });

  it('splits a turn larger than the limit over the following turns, in order', async () => {
    const calls: number[][] = [];
    const add = batchPerTurn<number>(async (items) => void calls.push(items), 2);
    await Promise.all([1, 2, 3, 4, 5].map(add));
    expect(calls).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('fails only the items the flush reports as failed', async () => {
    const add = batchPerTurn<number>(async (items) =>
      items.map((n) => (n % 2 ? undefined : new Error(`even ${n}`))),
    );
    expect(await Promise.all([1, 2, 3, 4].map((n) => settle(add(n))))).toEqual([
      'ok',
      'failed: even 2',
      'ok',
      'failed: even 4',
    ]);
  });

  it('fails every item of the batch when the flush throws, and goes on with the next', async () => {
    let fail = true;
    const add = batchPerTurn<number>(async () => {
      if (fail) throw new Error('sink down');
    });
    expect(await Promise.all([settle(add(1)), settle(add(2))])).toEqual([
      'failed: sink down',
      'failed: sink down',
    ]);
    fail = false;
    expect(await settle(add(3))).toBe('ok');
  });
});
