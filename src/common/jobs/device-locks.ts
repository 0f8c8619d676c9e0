/** Keyed FIFO locks: benchmark-type work runs one at a time per device. */
export class DeviceLocks {
  private readonly tails = new Map<string, Promise<void>>();

  /** Acquires every key (in sorted order, so two callers never deadlock); returns the release. */
  async acquire(keys: string[], signal?: AbortSignal): Promise<() => void> {
    const releases: Array<() => void> = [];
    try {
      for (const key of [...new Set(keys)].sort()) {
        releases.push(await this.acquireOne(key, signal));
      }
    } catch (err) {
      releases.forEach((r) => r());
      throw err;
    }
    return () => releases.reverse().forEach((r) => r());
  }

  private async acquireOne(key: string, signal?: AbortSignal): Promise<() => void> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    const done = () => {
      release();
      if (this.tails.get(key) === tail) this.tails.delete(key);
    };
    if (signal) {
      await Promise.race([
        previous,
        new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason);
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        }),
      ]).catch((err: unknown) => {
        // Give our place back once the holder before us is done, so the chain stays intact.
        void previous.then(done);
        throw err;
      });
    } else {
      await previous;
    }
    return done;
  }
}
