// The signals a supervisor catches, from its first moment to its last: a
// supervisor killed by one would leave the worker running with nobody to
// record its end. SIGTERM, SIGINT and SIGHUP mean "stop the job" (a cancel
// on this host sends SIGTERM); the quiet ones (process/signals.ts) mean
// nothing and are ignored.

import { ignoreQuietSignals, quietSignalsBlocked } from "../process/signals.ts";

const STOP_SIGNALS: readonly Deno.Signal[] = ["SIGTERM", "SIGINT", "SIGHUP"];

/**
 * The supervisor's signals. The first stop signal is remembered, so one that
 * arrives before the worker starts still cancels the job; the time of the
 * last one tells a patient wait (recording the end) to give up.
 */
export class StopSignals implements Disposable {
  /** The first stop signal received or delivered. */
  received: Deno.Signal | undefined;
  /** When the last stop signal came (epoch ms; 0: none yet). */
  lastAt = 0;
  #handler: ((signal: Deno.Signal) => void) | undefined;
  readonly #listeners: [Deno.Signal, () => void][] = [];
  // Listened for only where the launch could not block them.
  readonly #quiet = quietSignalsBlocked() ? undefined : ignoreQuietSignals();

  constructor() {
    for (const signal of STOP_SIGNALS) {
      const fn = () => {
        this.lastAt = Date.now();
        this.deliver(signal);
      };
      Deno.addSignalListener(signal, fn);
      this.#listeners.push([signal, fn]);
    }
  }

  /**
   * Handles `signal` as if it had been received: how a cancel that the store
   * reports (one made on another host) reaches the supervisor.
   */
  deliver(signal: Deno.Signal): void {
    this.received ??= signal;
    this.#handler?.(signal);
  }

  /** From now on, stop signals go to `handler` (none: they are only noted). */
  onSignal(handler: ((signal: Deno.Signal) => void) | undefined): void {
    this.#handler = handler;
  }

  [Symbol.dispose](): void {
    for (const [signal, fn] of this.#listeners) {
      Deno.removeSignalListener(signal, fn);
    }
    this.#quiet?.[Symbol.dispose]();
  }
}
