// The commands the CLI prints as hints ("Status: ...", "Run '... --help'"),
// built from the invocation actually running, so that each works when pasted:
// `deno run -A mod.ts jobs <id>` from source, the compiled binary's path, or
// the name `deno install` gave the command.

import {
  currentRuntime,
  PERMISSIONS,
  type RuntimeFacts,
  selfArgv,
} from "../spawn/argv.ts";
import { findExecutable } from "../spawn/which.ts";
import { isPostgresUrl } from "../store/capabilities.ts";
import { shellLine } from "./_output.ts";
import { readEnv } from "../util/permissions.ts";

/** What decides the invocation: the runtime, the cwd, and the search path. */
export interface HintFacts extends RuntimeFacts {
  /** The directory the hint will be pasted in. */
  cwd: string;
  /** `PATH`, to see whether plain `deno` is this Deno. */
  path: string;
  /**
   * This process's command line as the system shows it, to recognise the
   * shim of `deno install`; undefined where it cannot be read.
   */
  cmdline?: readonly string[];
}

/**
 * The words that start this program again, as a person would type them:
 * `deno` when that name finds this Deno (else its path), `-A` when every
 * permission is granted (else the granted ones), and the entry module
 * relative to the cwd when it lies below it. A compiled binary is its path;
 * a command `deno install` made is its name (its path if PATH does not find
 * it by that name).
 */
export function invocation(
  // Without --allow-env, deno is named by its full path.
  facts: HintFacts = {
    ...currentRuntime(),
    cwd: Deno.cwd(),
    path: readEnv("PATH") ?? "",
    cmdline: ownCommandLine(),
  },
): string[] {
  const shim = facts.standalone ? undefined : installedAs(facts);
  if (shim !== undefined) {
    const name = shim.slice(shim.lastIndexOf("/") + 1);
    return [sameFile(find(name, facts), shim) ? name : shim];
  }
  const all = PERMISSIONS.every((name) =>
    facts.permissionFlags.includes(`--allow-${name}`)
  );
  const argv = selfArgv(facts, all ? { permissionFlags: ["-A"] } : {});
  if (facts.standalone) return argv;
  if (sameFile(find("deno", facts), facts.execPath)) argv[0] = "deno";
  const entry = argv.length - 1;
  const dir = facts.cwd.endsWith("/") ? facts.cwd : `${facts.cwd}/`;
  if (argv[entry].startsWith(dir)) argv[entry] = argv[entry].slice(dir.length);
  return argv;
}

let cached: string[] | undefined;

/** Options for {@linkcode hint}. */
export interface HintOptions {
  /**
   * The store the user named, carried into the hint: a jobs directory as
   * `--jobs-dir DIR`, a URL as `--store URL` unless it holds a password,
   * which a hint must not print.
   */
  store?: string;
  /** The facts to build from (tests); default: this process, cached. */
  facts?: HintFacts;
}

/**
 * A command line to print as a hint: this program's invocation, then the
 * arguments, then the store if the user named one, all shell-quoted.
 */
export function hint(
  args: readonly string[],
  options: HintOptions = {},
): string {
  const prefix = options.facts !== undefined
    ? invocation(options.facts)
    : (cached ??= invocation());
  const store = options.store;
  const dir = store === undefined
    ? []
    : !isPostgresUrl(store)
    ? ["--jobs-dir", store]
    : new URL(store).password === ""
    ? ["--store", store]
    : [];
  return shellLine([...prefix, ...args, ...dir]);
}

function find(name: string, facts: HintFacts): string | undefined {
  try {
    const found = findExecutable(name, { cwd: facts.cwd, path: facts.path });
    return found.ok ? found.path : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The shim `deno install -n NAME` wrote, if it started this program: it
 * runs `deno run ... --config <root>/bin/.<NAME>/deno.json '<module>'`, so
 * the command line names `<root>/bin/<NAME>`, which must be that very shim
 * for this very module.
 */
function installedAs(facts: HintFacts): string | undefined {
  const line = facts.cmdline ?? [];
  const at = line.indexOf("--config");
  const m = /^(.*\/bin)\/\.([^/]+)\/deno\.json$/.exec(line[at + 1] ?? "");
  if (at < 0 || m === null) return undefined;
  const shim = `${m[1]}/${m[2]}`;
  try {
    const text = Deno.readTextFileSync(shim);
    const ours = text.includes(`--config ${line[at + 1]} `) &&
      text.includes(`'${facts.mainModule}'`);
    return ours ? shim : undefined;
  } catch {
    return undefined;
  }
}

/**
 * This process's command line: /proc on Linux (readable under -A only),
 * `ps` elsewhere (its words split at spaces); undefined if unreadable.
 */
function ownCommandLine(): string[] | undefined {
  try {
    if (Deno.build.os === "linux") {
      return Deno.readTextFileSync("/proc/self/cmdline").split("\0");
    }
    const out = new Deno.Command("ps", {
      args: ["-o", "args=", "-p", String(Deno.pid)],
      stderr: "null",
    }).outputSync();
    return new TextDecoder().decode(out.stdout).trim().split(" ");
  } catch {
    return undefined;
  }
}

function sameFile(a: string | undefined, b: string): boolean {
  if (a === undefined) return false;
  try {
    return Deno.realPathSync(a) === Deno.realPathSync(b);
  } catch {
    return false;
  }
}
