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
 * The program and first arguments that start a program with
 * {@linkcode QUIET_SIGNALS} blocked (`how` is `block`), so that none is ever
 * delivered to it, or with them delivered again (`unblock`): GNU env's
 * `--block-signal` and `--default-signal` (coreutils 8.31 and later) where
 * `/usr/bin/env` has them, else perl's sigprocmask; none (`[]`) where
 * neither is there or may be run. A blocked mask survives exec, and is the
 * one thing that keeps Deno 2.9.2 and later from opening its inspector on
 * SIGUSR1 (a listener does not). It is inherited by the children a Deno
 * program starts, too: what a supervisor starts must unblock them. Looked
 * for once per process; permissions are queried, never requested.
 *
 * @param program The program to start: an absolute path, which the caller
 * checks is executable (once started through env or perl, a program that
 * cannot run is their exit code, after the caller has returned). None for
 * another, or one this process may not read; not env for a path holding
 * `=`, which env would take for an assignment.
 * @param how Block or unblock.
 */
export function quietLaunch(
  program: string,
  how: "block" | "unblock",
): readonly string[] {
  if (!program.startsWith("/") || !granted("read", program)) return [];
  const found = launcher ??= findLauncher();
  if (found === "perl" || (found === "env" && program.includes("="))) {
    return perlLauncher() === undefined ? [] : [
      PERL,
      "-e",
      how === "block" ? PERL_BLOCK : PERL_UNBLOCK,
      "--",
    ];
  }
  if (found === "env") {
    const option = how === "block" ? "--block-signal" : "--default-signal";
    return [ENV, `${option}=${QUIET_SIGNALS.map((s) => s.slice(3)).join(",")}`];
  }
  return [];
}

const ENV = "/usr/bin/env";
const PERL = "/usr/bin/perl";
// `perl -e PERL_BLOCK -- program args...`: POSIX is in perl-base (Debian)
// and in macOS's perl.
function perlScript(how: "SIG_BLOCK" | "SIG_UNBLOCK"): string {
  return `use POSIX (); POSIX::sigprocmask(POSIX::${how}(), POSIX::SigSet->new(${
    QUIET_SIGNALS.map((s) => `POSIX::${s}()`).join(",")
  })) or die "sigprocmask: $!\\n"; ` +
    'exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\\n";';
}
const PERL_BLOCK = perlScript("SIG_BLOCK");
const PERL_UNBLOCK = perlScript("SIG_UNBLOCK");

let launcher: "env" | "perl" | "none" | undefined;

function findLauncher(): "env" | "perl" | "none" {
  if (Deno.build.os === "windows") return "none";
  if (allowed(ENV)) {
    try {
      const text = new TextDecoder().decode(Deno.readFileSync(ENV));
      // Both options came in coreutils 8.31.
      if (text.includes("--block-signal")) return "env";
    } catch {
      // Not there, or not readable: perl, then.
    }
  }
  return perlLauncher() === undefined ? "none" : "perl";
}

function perlLauncher(): string | undefined {
  if (!allowed(PERL)) return undefined;
  try {
    return Deno.statSync(PERL).isFile ? PERL : undefined;
  } catch {
    return undefined;
  }
}

function allowed(path: string): boolean {
  return granted("run", path) && granted("read", path);
}

function granted(name: "run" | "read", path: string): boolean {
  try {
    return Deno.permissions.querySync(
      name === "run" ? { name, command: path } : { name, path },
    ).state === "granted";
  } catch {
    return false;
  }
}

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
