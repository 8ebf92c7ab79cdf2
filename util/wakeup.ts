// Waiting for a change or a timeout, for the change feeds of every store
// backend: one implementation, so each backend only says when to kick.

/**
 * The waiting half of a `ChangeFeed` (store.ts), written once for every
 * backend: `kick()` marks a change (and ends a wait under way), `next(ms)`
 * returns at once for a change that came since the last call, else waits for
 * one or for `ms`.
 */
export class Wakeup {
  #pending = false;
  #wake: (() => void) | undefined;

  /** A change came (or the feed closes): wake the waiter. */
  kick(): void {
    this.#pending = true;
    this.#wake?.();
  }

  /** Waits for a change since the last call, at most `ms` milliseconds. */
  async next(ms: number): Promise<void> {
    if (!this.#pending) {
      let tick: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((res) => {
        this.#wake = res;
        tick = setTimeout(res, ms);
      });
      // Woken early, the timer would keep the process alive until it fires.
      clearTimeout(tick);
      this.#wake = undefined;
    }
    this.#pending = false;
  }
}
