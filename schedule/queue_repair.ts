// The repair a watcher runs while the job it watches has not started: one
// home for every watch of a job (store/watch.ts).

import type { JobStore } from "../store/contract.ts";
import { granted } from "../util/permissions.ts";

/** How often a watch of a job that has not started runs a pass. */
export const QUEUE_REPAIR_INTERVAL = 2_000;

/**
 * Scheduler passes every {@linkcode QUEUE_REPAIR_INTERVAL}, while on.
 *
 * A waiting or queued job is started by a scheduler pass, which runs when
 * another job ends; should that job's supervisor die (SIGKILL), no pass
 * comes until some later command, and a watch begun before would wait
 * forever for a job that never starts. So a watch repairs the queue itself
 * while its job has not started, whether or not the directory's pending
 * marker is there (its job waits: a deleted marker must not strand it).
 */
export class QueueRepair implements Disposable {
  #store: JobStore;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  /** @param store The store of the job watched. */
  constructor(store: JobStore) {
    this.#store = store;
  }

  /** Runs the passes while `on` is true; stops them once it is false. */
  while(on: boolean): void {
    if (
      on && this.#timer === undefined &&
      this.#store.capabilities.scheduling && this.#allowed()
    ) {
      const timer = setInterval(() => this.#pass(), QUEUE_REPAIR_INTERVAL);
      // Never what keeps a program alive: an abandoned watch lets it exit.
      Deno.unrefTimer(timer);
      this.#timer = timer;
    } else if (!on) {
      this[Symbol.dispose]();
    }
  }

  // Asked, never requested: a watch in a program run without them must
  // not raise a permission prompt every 2 seconds.
  #allowed(): boolean {
    return granted({ name: "write", path: this.#store.localDir }) &&
      granted({ name: "run" });
  }

  async #pass(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const { schedulePending } = await import("./schedule.ts");
      await schedulePending(this.#store, true);
    } finally {
      this.#busy = false;
    }
  }

  /** Stops the passes. */
  [Symbol.dispose](): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
