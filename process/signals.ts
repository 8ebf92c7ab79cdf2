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
  // These end a Deno process too, a listener or not (Deno refuses one for
  // SIGILL and SIGFPE); blocked, a real fault still ends it.
  "SIGTRAP",
  "SIGABRT",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGSYS",
  "SIGFPE",
  "SIGILL",
  ...(Deno.build.os === "linux"
    ? ["SIGPWR", "SIGSTKFLT", "SIGIO"] as const
    : []),
];

/**
 * Set by {@linkcode quietLaunch} for the program it starts: how its quiet
 * signals were blocked (`env` or `perl`), so that it can unblock them for
 * its own children ({@linkcode unquietLaunch}) without looking again.
 */
const QUIET_LAUNCH_ENV = "EPACK_DETACH_QUIET_LAUNCH";

const ENV = "/usr/bin/env";
const PERL = "/usr/bin/perl";
// Linux's real-time signals (glibc's SIGRTMIN is 34; 32 and 33 are its
// threads'): by default they end a process, and nothing of ours uses them.
const REALTIME = Deno.build.os === "linux"
  ? Array.from({ length: 31 }, (_, i) => 34 + i)
  : [];
const NAMES = [
  ...QUIET_SIGNALS.map((s) => s.slice(3)),
  ...REALTIME.map((n) => `RTMIN+${n - 34}`),
].join(",");

// `perl -e SCRIPT -- program args...`: POSIX is in perl-base (Debian) and
// in macOS's perl.
function perlScript(how: "SIG_BLOCK" | "SIG_UNBLOCK", note = ""): string {
  return `use POSIX (); POSIX::sigprocmask(POSIX::${how}(), POSIX::SigSet->new(${
    [...QUIET_SIGNALS.map((s) => signalNumber(s)), ...REALTIME].join(",")
  })) or die "sigprocmask: $!\\n"; ${note}` +
    'exec { $ARGV[0] } @ARGV or die "cannot run $ARGV[0]: $!\\n";';
}

/**
 * The program and first arguments that start `program` with
 * {@linkcode QUIET_SIGNALS} blocked, so that none is ever delivered to it:
 * GNU env's `--block-signal` (coreutils 8.31 and later) where
 * `/usr/bin/env` has it, else perl's sigprocmask; none (`[]`) where neither
 * is there or may be run. A blocked mask survives exec, and is the one
 * thing that keeps Deno 2.9.2 and later from opening its inspector on
 * SIGUSR1 (a listener does not). Children inherit it, a Deno program's too:
 * the program must start its own with {@linkcode unquietLaunch}, which the
 * variable set here tells how (so it needs an unscoped --allow-env, which a
 * supervisor is given when its spawner has it). Looked for once per
 * process; permissions are queried, never requested.
 *
 * @param program The program to start: an absolute path, which the caller
 * checks is executable (once started through env or perl, a program that
 * cannot run is their exit code, after the caller has returned). None for
 * another, or one this process may not read; not env for a path holding
 * `=`, which env would take for an assignment.
 */
export function quietLaunch(program: string): readonly string[] {
  if (!program.startsWith("/") || !granted("read", program)) return [];
  try {
    if (Deno.permissions.querySync({ name: "env" }).state !== "granted") {
      return [];
    }
  } catch {
    return [];
  }
  const found = launcher ??= findLauncher();
  if (found === "env" && !program.includes("=")) {
    return [ENV, `--block-signal=${NAMES}`, `${QUIET_LAUNCH_ENV}=env`];
  }
  if (found === "none" || !allowed(PERL)) return [];
  return [
    PERL,
    "-e",
    perlScript("SIG_BLOCK", `$ENV{${QUIET_LAUNCH_ENV}} = "perl"; `),
    "--",
  ];
}

let launcher: "env" | "perl" | "none" | undefined;

function findLauncher(): "env" | "perl" | "none" {
  if (Deno.build.os === "windows") return "none";
  if (allowed(ENV)) {
    try {
      const env = Deno.readFileSync(ENV);
      // Both --block-signal and --default-signal came in coreutils 8.31.
      if (includes(env, new TextEncoder().encode("--block-signal"))) {
        return "env";
      }
    } catch {
      // Not there, or not readable: perl, then.
    }
  }
  return allowed(PERL) ? "perl" : "none";
}

function includes(haystack: Uint8Array, needle: Uint8Array): boolean {
  for (let i = haystack.indexOf(needle[0]); i >= 0;) {
    let j = 1;
    while (j < needle.length && haystack[i + j] === needle[j]) j++;
    if (j === needle.length) return true;
    i = haystack.indexOf(needle[0], i + 1);
  }
  return false;
}

function allowed(path: string): boolean {
  if (!granted("run", path) || !granted("read", path)) return false;
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
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

let blockedBy: string | undefined | null = null;

/**
 * How this process's quiet signals were blocked by {@linkcode quietLaunch},
 * if they were: read once, and taken out of the environment, so that no
 * child inherits it.
 */
function inherited(): string | undefined {
  if (blockedBy === null) {
    try {
      blockedBy = Deno.env.get(QUIET_LAUNCH_ENV);
      Deno.env.delete(QUIET_LAUNCH_ENV);
    } catch {
      blockedBy = undefined;
    }
  }
  return blockedBy;
}

/** Whether this process was started with the quiet signals blocked. */
export function quietSignalsBlocked(): boolean {
  return inherited() !== undefined;
}

/**
 * For a process started by {@linkcode quietLaunch}: the program and first
 * arguments that start a child (an absolute path) with the quiet signals
 * unblocked again, so that its signals are its own (GNU env's
 * `--default-signal`, or perl). None for a process started otherwise.
 */
export function unquietLaunch(): readonly string[] {
  switch (inherited()) {
    case "env":
      return [ENV, `--default-signal=${NAMES}`];
    case "perl":
      return [PERL, "-e", perlScript("SIG_UNBLOCK"), "--"];
    default:
      return [];
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

// Each platform's signals 1 to 31, in order of number.
const NAMES_BY_OS = {
  linux:
    "HUP INT QUIT ILL TRAP ABRT BUS FPE KILL USR1 SEGV USR2 PIPE ALRM TERM STKFLT CHLD CONT STOP TSTP TTIN TTOU URG XCPU XFSZ VTALRM PROF WINCH IO PWR SYS",
  darwin:
    "HUP INT QUIT ILL TRAP ABRT EMT FPE KILL BUS SEGV SYS PIPE ALRM TERM URG STOP TSTP CONT CHLD TTIN TTOU IO XCPU XFSZ VTALRM PROF WINCH INFO USR1 USR2",
};

function table(os: string): string[] {
  return NAMES_BY_OS[os === "darwin" ? "darwin" : "linux"].split(" ");
}

/**
 * The number of a signal by name (`"SIGTERM"`, case-insensitive), on this
 * platform or the one named; `undefined` for a name it does not know.
 */
export function signalNumber(
  name: string,
  os: string = Deno.build.os,
): number | undefined {
  const short = name.toUpperCase().replace(/^SIG/, "");
  const at = table(os).indexOf(
    short === "POLL" && os !== "darwin" ? "IO" : short,
  );
  return at < 0 || !/^SIG/i.test(name) ? undefined : at + 1;
}

/** The name of a signal by number, or `undefined`. */
export function signalName(
  n: number,
  os: string = Deno.build.os,
): string | undefined {
  const name = Number.isInteger(n) && n > 0 ? table(os)[n - 1] : undefined;
  return name === undefined ? undefined : `SIG${name}`;
}
