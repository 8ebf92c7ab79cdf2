// The commands the CLI prints as hints, built from the invocation running
// so that each works when pasted: `deno run -A /abs/mod.ts jobs <id>`, a
// compiled binary's path, or the name `deno install` gave it.

import {
  currentRuntime,
  PERMISSIONS,
  type RuntimeFacts,
  selfArgv,
} from "../spawn/argv.ts";
import { findExecutable } from "../spawn/which.ts";
import { isPostgresUrl } from "../store/capabilities.ts";
import { redact } from "../store/redact.ts";
import { shellLine } from "./_output.ts";
import { readEnv } from "../util/permissions.ts";

/**
 * What decides the invocation: the runtime, the cwd, `PATH` (is plain
 * `deno` this Deno?), and this process's command line (is it the shim of
 * `deno install`?), where it can be read.
 */
export interface HintFacts extends RuntimeFacts {
  cwd: string;
  path: string;
  cmdline?: readonly string[];
}

/**
 * The words that start this program again, as a person would type them:
 * `deno` if that finds this Deno, `-A` if every permission is granted, the
 * entry module's absolute path (a hint may be pasted in another directory,
 * or read in a CI log); a compiled binary's path; the name (or path) of a
 * command `deno install` made.
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
  return argv;
}

let cached: string[] | undefined;

/**
 * A shell-quoted command line to print: the invocation, `args`, and the
 * store the user named (a URL's password shown as `***`, as in every
 * message: the hint names the right store, and the secret stays off the
 * screen); `facts` for tests (default: this process, cached).
 */
export function hint(
  args: readonly string[],
  options: { store?: string; facts?: HintFacts } = {},
): string {
  const prefix = options.facts !== undefined
    ? invocation(options.facts)
    : (cached ??= invocation());
  const store = options.store;
  const dir = store === undefined
    ? []
    : !isPostgresUrl(store)
    ? ["--jobs-dir", store]
    : ["--store", redact(store)];
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
 * The shim `deno install -n NAME` wrote, if it started this program: its
 * `--config <root>/bin/.<NAME>/deno.json` names the shim, which must run
 * this very module.
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

// This process's command line: /proc on Linux (under -A only), else `ps`.
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
