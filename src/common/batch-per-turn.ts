/**
 * Group commit for any sink: the items added in one turn of the event loop are handed to `flush`
 * together on the next one (at most `limit` per call; the rest go in the following turns), and each
 * caller's promise settles only when its own item has been dealt with.
 *
 * `flush` resolves with nothing when every item succeeded, or with one entry per item: `undefined`
 * where that item succeeded, its error where it failed. If `flush` throws, every item of the batch
 * fails with that error.
 */
export type BatchFlush<T> = (items: T[]) => Promise<readonly unknown[] | void>;

interface Entry<T> {
  item: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export function batchPerTurn<T>(
  flush: BatchFlush<T>,
  limit = Number.POSITIVE_INFINITY,
): (item: T) => Promise<void> {
  const pending: Entry<T>[] = [];
  const run = async (): Promise<void> => {
    const batch = pending.splice(0, limit);
    if (pending.length) setImmediate(() => void run());
    let errors: readonly unknown[] | void;
    try {
      errors = await flush(batch.map((b) => b.item));
    } catch (err) {
      for (const b of batch) b.reject(err);
      return;
    }
    batch.forEach((b, i) => {
      const err = errors?.[i];
      if (err === undefined) b.resolve();
      else b.reject(err);
    });
  };
  return (item) =>
    new Promise<void>((resolve, reject) => {
      pending.push({ item, resolve, reject });
      if (pending.length === 1) setImmediate(() => void run());
    });
}
