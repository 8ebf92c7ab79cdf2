// The portable process inspector: it runs `ps`, for systems without /proc
// (macOS) and for Linux under permissions narrower than --allow-all (Deno
// 2.9 reads /proc only then). Only options and `-o` keywords that both
// procps (Linux) and BSD `ps` (macOS) accept are used, each `-o` given
// separately with an empty header (FreeBSD takes `a=,b=` as one header):
//
//   pid pgid stat lstart   both; `stat`'s first letter is the state, Z for
//                          a zombie, on both
//   sid                    procps only: BSD's `sess` is a kernel address, so
//                          on macOS the session is not known
//   lstart                 with TZ=UTC0 and LC_ALL=C both print
//                          "Mon Nov 24 21:55:01 2026" (procps: btime +
//                          ticks / HZ; macOS: strftime("%c") of p_starttime)
//   args + environment     procps `e`, BSD `-E`: the environment is printed
//                          after the arguments, space-separated, so a second
//                          run without it tells the two apart
//
// Needs `--allow-run` (for ps); environments are shown for the user's own
// processes only, which is all a job can be.

import type { ProcessInfo, ProcessInspector } from "./types.ts";

/** The two families of `ps` and what differs between them. */
export type PsFlavour = "procps" | "bsd";

/** The flavour of the system's `ps`: BSD on macOS, procps elsewhere. */
export function psFlavour(os: string = Deno.build.os): PsFlavour {
  return os === "darwin" ? "bsd" : "procps";
}

/** The `ps` arguments that list process facts, one line per process. */
export function psInfoArgs(flavour: PsFlavour): string[] {
  const keys = ["pid", "pgid", ...flavour === "procps" ? ["sid"] : []];
  return [...keys, "stat", "lstart"].flatMap((k) => ["-o", `${k}=`]);
}

/** The `ps` arguments that print arguments, then (with `env`) environments. */
export function psArgsArgs(flavour: PsFlavour, env: boolean): string[] {
  const envFlag = flavour === "bsd" ? "-E" : "e";
  return [...(env ? [envFlag] : []), "-ww", "-o", "pid=", "-o", "args="];
}

const MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec";

/**
 * Parses `lstart` as printed under TZ=UTC0 and LC_ALL=C
 * (`Mon Nov 24 21:55:01 2026`) into seconds since the epoch.
 */
export function parseLstart(text: string): number | undefined {
  const m =
    /^[A-Z][a-z]{2} +([A-Z][a-z]{2}) +(\d{1,2}) +(\d{2}):(\d{2}):(\d{2}) +(\d{4})$/
      .exec(text.trim());
  if (m === null) return undefined;
  const month = MONTHS.indexOf(m[1]);
  if (month < 0 || month % 3 !== 0) return undefined;
  const ms = Date.UTC(+m[6], month / 3, +m[2], +m[3], +m[4], +m[5]);
  return ms / 1000;
}

/**
 * Parses the output of `ps` with {@linkcode psInfoArgs}; lines it cannot
 * read are skipped.
 */
export function parsePsInfo(text: string, flavour: PsFlavour): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  const fixed = flavour === "procps" ? 4 : 3;
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < fixed + 5) continue;
    const [pid, pgid] = [Number(f[0]), Number(f[1])];
    const sid = flavour === "procps" ? Number(f[2]) : undefined;
    const state = f[fixed - 1];
    const startTime = parseLstart(f.slice(fixed, fixed + 5).join(" "));
    if (
      !Number.isSafeInteger(pid) || !Number.isSafeInteger(pgid) ||
      (sid !== undefined && !Number.isSafeInteger(sid)) ||
      startTime === undefined
    ) continue;
    const info: ProcessInfo = { pid, state: state[0], pgid, startTime };
    if (sid !== undefined) info.sid = sid;
    out.push(info);
  }
  return out;
}

/** Parses `pid args…` lines into a map from PID to the rest of the line. */
export function parsePsArgs(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split("\n")) {
    const m = /^\s*(\d+)\s?(.*)$/.exec(line);
    if (m !== null) out.set(Number(m[1]), m[2].trimStart());
  }
  return out;
}

/**
 * The PIDs whose environment holds `entry`, from the same processes listed
 * without and with their environments: what the second run adds after the
 * first one's arguments is the environment, so an argument that merely
 * spells the entry does not count. A process that changed in between (its
 * arguments differ) is left out.
 */
export function findCarriers(
  plain: Map<number, string>,
  withEnv: Map<number, string>,
  entry: string,
): Set<number> {
  const found = new Set<number>();
  for (const [pid, full] of withEnv) {
    const args = plain.get(pid);
    if (args === undefined || !full.startsWith(args)) continue;
    const env = full.slice(args.length).trim().split(/\s+/);
    if (env.includes(entry)) found.add(pid);
  }
  return found;
}

/** Runs `ps`, or answers why it could not. */
type PsRunner = (args: string[]) => { ok: true; stdout: string } | {
  ok: false;
  problem: string;
};

function runPs(args: string[]): ReturnType<PsRunner> {
  let out: Deno.CommandOutput;
  try {
    out = new Deno.Command("ps", {
      args,
      // lstart in one fixed format and zone, on both families.
      env: { TZ: "UTC0", LC_ALL: "C" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
  } catch (err) {
    // A missing --allow-run surfaces here, in Deno's words naming the flag.
    return { ok: false, problem: `Cannot run ps: ${(err as Error).message}` };
  }
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr).trim();
  // Both families exit 1, silently, when no process matched `-p`.
  if (out.success || (out.code === 1 && stdout === "" && stderr === "")) {
    return { ok: true, stdout };
  }
  return {
    ok: false,
    problem: `ps exited with code ${out.code}${stderr ? `: ${stderr}` : ""}`,
  };
}

/** Process inspection by `ps`: macOS, and Linux without `--allow-all`. */
export class PsInspector implements ProcessInspector {
  readonly kind = "ps";
  readonly flavour: PsFlavour;
  #run: PsRunner;
  #problem: string | undefined;

  /**
   * @param flavour Which `ps` to expect (by default, the system's).
   * @param run Runs `ps` (tests replay recorded output through it).
   */
  constructor(flavour: PsFlavour = psFlavour(), run: PsRunner = runPs) {
    this.flavour = flavour;
    this.#run = run;
  }

  processes(pids?: readonly number[]): ProcessInfo[] | undefined {
    if (pids !== undefined && pids.length === 0) return [];
    const text = this.#ps([...select(pids), ...psInfoArgs(this.flavour)]);
    return text === undefined ? undefined : parsePsInfo(text, this.flavour);
  }

  carrying(entry: string, pids?: readonly number[]): Set<number> | undefined {
    if (pids !== undefined && pids.length === 0) return new Set();
    const plain = this.#ps([
      ...select(pids),
      ...psArgsArgs(this.flavour, false),
    ]);
    if (plain === undefined) return undefined;
    const full = this.#ps([...select(pids), ...psArgsArgs(this.flavour, true)]);
    if (full === undefined) return undefined;
    return findCarriers(parsePsArgs(plain), parsePsArgs(full), entry);
  }

  problem(): string | undefined {
    return this.#problem;
  }

  #ps(args: string[]): string | undefined {
    const result = this.#run(args);
    if (result.ok) {
      this.#problem = undefined;
      return result.stdout;
    }
    this.#problem = result.problem;
    return undefined;
  }
}

function select(pids?: readonly number[]): string[] {
  return pids === undefined ? ["-A"] : ["-p", pids.join(",")];
}
