// Signal names and numbers, in one place. The numbers differ between Linux
// and macOS for a few signals, so both tables are kept; everything that turns
// a name into a number (exit codes 128+N, records) asks here. Also the
// signals a long-lived process of ours must never die of.

/**
 * Signals that end a Deno process that has no listener for them (SIGUSR2,
 * SIGQUIT, SIGALRM, SIGVTALRM, SIGPROF; SIGUSR1 within its first 500 ms),
 * or (SIGUSR1, Deno 2.9.2 and later, listener or not) open an
 * unauthenticated inspector on 127.0.0.1:9229 that any local user can
 * connect to and run code through. Nobody means a stop by them: a process
 * of ours that must outlive them listens ({@linkcode ignoreQuietSignals}),
 * and the supervisor is started with them blocked.
 */
export const QUIET_SIGNALS: readonly Deno.Signal[] = [
  "SIGUSR1",
  "SIGUSR2",
  "SIGQUIT",
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
];

/**
 * Listens for every one of {@linkcode QUIET_SIGNALS} (but `except`), doing
 * nothing, so none ends this process. A listener does not keep the process
 * alive. It does not keep Deno from opening its inspector on SIGUSR1: only
 * a signal mask set before the process starts does that.
 *
 * @param except Signals the caller handles itself.
 * @returns A handle; disposing it removes the listeners.
 */
export function ignoreQuietSignals(
  except: readonly Deno.Signal[] = [],
): Disposable {
  const ignore = () => {};
  const bound: Deno.Signal[] = [];
  for (const signal of QUIET_SIGNALS) {
    if (except.includes(signal)) continue;
    try {
      Deno.addSignalListener(signal, ignore);
      bound.push(signal);
    } catch {
      // A platform that refuses this one (Windows has none of them).
    }
  }
  return {
    [Symbol.dispose]() {
      for (const signal of bound) Deno.removeSignalListener(signal, ignore);
    },
  };
}

const COMMON: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
};

const LINUX: Record<string, number> = {
  ...COMMON,
  SIGBUS: 7,
  SIGUSR1: 10,
  SIGUSR2: 12,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

const DARWIN: Record<string, number> = {
  ...COMMON,
  SIGEMT: 7,
  SIGBUS: 10,
  SIGSYS: 12,
  SIGURG: 16,
  SIGSTOP: 17,
  SIGTSTP: 18,
  SIGCONT: 19,
  SIGCHLD: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGIO: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGINFO: 29,
  SIGUSR1: 30,
  SIGUSR2: 31,
};

function table(os: string): Record<string, number> {
  return os === "darwin" ? DARWIN : LINUX;
}

/**
 * The number of a signal by name (`"SIGTERM"`, case-insensitive), on this
 * platform or the one named; `undefined` for a name it does not know.
 */
export function signalNumber(
  name: string,
  os: string = Deno.build.os,
): number | undefined {
  return table(os)[name.toUpperCase()];
}

/** The name of a signal by number, or `undefined`. */
export function signalName(
  n: number,
  os: string = Deno.build.os,
): string | undefined {
  for (const [name, value] of Object.entries(table(os))) {
    if (value === n && name !== "SIGPOLL") return name;
  }
  return undefined;
}
