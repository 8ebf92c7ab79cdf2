// The library's timers, for the long-lived supervisor above all. Not
// `setTimeout`: in Deno 2.9 the global `setTimeout` is Node's (it returns a
// `Timeout` object), and its first use loads that implementation, about
// 1.3 MB of V8 heap; in a supervisor that pushed the young generation over
// its first scavenges, and RssAnon up by about 2.3 MiB (bench/measure.ts).
// `AbortSignal.timeout()` runs on the runtime's own timers, already loaded:
// about 20 KB to arm. Its timer keeps the process alive while the signal
// has an "abort" listener, and not once the listener is removed, in Deno
// 2.7 as in 2.9, which is what cancelling a `setTimeout` gives.

/** The longest delay a timer takes (about 24.8 days); longer ones fire at once. */
export const MAX_TIMER = 2 ** 31 - 1;

/**
 * Calls `fn` once after `ms` milliseconds (at most {@linkcode MAX_TIMER};
 * NaN, 0 and below: at once, as `setTimeout` does).
 * Until then the timer keeps the process alive, as `setTimeout` does.
 */
export function after(ms: number, fn: () => void): () => void {
  // As setTimeout takes a delay: NaN (and anything not above 0) is now.
  // AbortSignal.timeout() throws on NaN, which would turn a sleep into a
  // rejection deep in the supervisor.
  const delay = ms > 0 ? Math.min(ms, MAX_TIMER) : 0;
  const signal = AbortSignal.timeout(delay);
  const fire = () => fn();
  signal.addEventListener("abort", fire, { once: true });
  return () => signal.removeEventListener("abort", fire);
}

/** Waits `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    after(ms, resolve);
  });
}

/**
 * Calls `fn` once after `ms` milliseconds, even when `ms` is longer than a
 * timer takes ({@linkcode MAX_TIMER}): longer delays are chained. A
 * non-finite or non-positive `ms` schedules nothing.
 *
 * @returns A handle; disposing it cancels the call.
 *
 * @example A deadline that can be cancelled
 * ```ts
 * import { scheduleTimeout } from "@epack/detach/timeout";
 *
 * using timer = scheduleTimeout(60_000, () => console.log("too late"));
 * // ... the work finished first; leaving the block cancels the timer.
 * ```
 */
export function scheduleTimeout(ms: number, fn: () => void): Disposable {
  let cancel: (() => void) | undefined;
  if (Number.isFinite(ms) && ms > 0) {
    const end = Date.now() + ms;
    const arm = () => {
      const left = end - Date.now();
      if (left <= 0) {
        cancel = undefined;
        fn();
        return;
      }
      cancel = after(left, arm);
    };
    arm();
  }
  return {
    [Symbol.dispose]() {
      cancel?.();
      cancel = undefined;
    },
  };
}
