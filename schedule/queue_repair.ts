// The repair a watcher runs while the job it watches has not started: one
// home for watchJob() (control.ts) and followLog() (logs.ts).

/** How often a watch of a job that has not started runs a pass. */
export const QUEUE_REPAIR_INTERVAL = 2_000;

/**
 * Scheduler passes every {@linkcode QUEUE_REPAIR_INTERVAL}, while on.
 *
 * A waiting or queued job is started by a scheduler pass, which runs when
 * another job ends; should that job's supervisor die (SIGKILL), no pass
 * comes until some later command, and a watch begun before would wait
 * forever for a job that never starts. So a watch repairs the queue itself
 * while its job has not started. Each pass is gated by the directory's
 * pending marker (one `lstat` when nothing waits).
 */
export class QueueRepair implements Disposable {
  #dir: string;
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  /** @param dir The jobs directory. */
  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Runs the passes while `on` is true; stops them once it is false. */
  while(on: boolean): void {
    if (on && this.#timer === undefined && this.#allowed()) {
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
    const granted = (d: Deno.PermissionDescriptor) =>
      Deno.permissions.querySync(d).state === "granted";
    return granted({ name: "write", path: this.#dir }) &&
      granted({ name: "run" });
  }

  async #pass(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      const { schedule } = await import("./schedule.ts");
      await schedule(this.#dir, { ifPending: true });
    } catch {
      // Best effort (it may lack --allow-run): the watch goes on, and the
      // next pass of any process starts the job.
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
