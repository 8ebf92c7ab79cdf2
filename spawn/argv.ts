// How the current program is started again: as a job's supervisor and as
// its worker. Kept apart from detach.ts so tests can inject the runtime facts
// (`deno compile` cannot run on our machines).

/** The facts about the running program that decide how to re-execute it. */
export interface RuntimeFacts {
  /** `Deno.build.standalone`: true inside a `deno compile` binary. */
  standalone: boolean;
  /** `Deno.execPath()`: the deno binary, or the compiled binary itself. */
  execPath: string;
  /** `Deno.mainModule`: the URL of the program's entry module. */
  mainModule: string;
  /** Permission flags reproducing the program's unscoped grants. */
  permissionFlags: string[];
}

/** Permission names whose unscoped grants can be passed on. */
export const PERMISSIONS = "read write net env sys run ffi import".split(" ");

/**
 * The `--allow-*` flags for every permission this process holds unscoped.
 * A scoped grant (`--allow-read=/tmp`) reads as "prompt" for the unscoped
 * query, so it is left out: the child never gets more than the parent.
 */
export function grantedPermissionFlags(): string[] {
  const flags: string[] = [];
  for (const name of PERMISSIONS) {
    let status: Deno.PermissionStatus;
    try {
      status = Deno.permissions.querySync(
        { name } as Deno.PermissionDescriptor,
      );
    } catch {
      continue; // A permission name this Deno does not know.
    }
    const partial = (status as { partial?: boolean }).partial === true;
    if (status.state === "granted" && !partial) flags.push(`--allow-${name}`);
  }
  return flags;
}

/** The facts of the running program. */
export function currentRuntime(): RuntimeFacts {
  return {
    standalone: (Deno.build as { standalone?: boolean }).standalone === true,
    execPath: Deno.execPath(),
    mainModule: Deno.mainModule,
    permissionFlags: grantedPermissionFlags(),
  };
}

/**
 * The argv prefix that starts the current program again; the program's own
 * arguments follow it. A compiled binary takes its arguments directly. Under
 * `deno run`, the same permission flags are given (never `-A` unless every
 * permission was granted one by one), then any extra Deno flags, then the
 * entry module: a path for a local file, the URL for a remote one.
 */
export function selfArgv(
  facts: RuntimeFacts,
  extra: { permissionFlags?: string[]; denoFlags?: string[] } = {},
): string[] {
  if (facts.standalone) return [facts.execPath];
  // A path for a local file (POSIX only, as the rest of the module). Not
  // node:url, which would cost every supervisor memory.
  const entry = facts.mainModule.startsWith("file:")
    ? decodeURIComponent(new URL(facts.mainModule).pathname)
    : facts.mainModule;
  return [
    facts.execPath,
    "run",
    ...(extra.permissionFlags ?? facts.permissionFlags),
    ...(extra.denoFlags ?? []),
    entry,
  ];
}

/**
 * Where this package's own entry modules are: the CLI (mod.ts), and the
 * module that only supervises (_supervise.ts), beside it, local or remote.
 */
export interface PackageEntries {
  cli: string;
  supervisor: string;
}

/** This package's entry modules, as this copy of it was loaded. */
export const PACKAGE_ENTRIES: PackageEntries = {
  cli: new URL("../mod.ts", import.meta.url).href,
  supervisor: new URL("../_supervise.ts", import.meta.url).href,
};

/**
 * The argv prefix that starts a job's supervisor (its own arguments follow).
 * When the program is this package's CLI (mod.ts, from a path or a URL),
 * the supervisor is the small module beside it, which loads only what
 * supervising needs: the CLI's modules would stay in the supervisor's memory
 * for the job's whole life. Any other program (one that calls spawn()
 * itself, or a compiled binary) is started again as it is: only it knows
 * how to reach superviseIfRequested().
 */
export function supervisorArgv(
  facts: RuntimeFacts,
  extra: { permissionFlags?: string[]; denoFlags?: string[] } = {},
  entries: PackageEntries = PACKAGE_ENTRIES,
): string[] {
  if (!facts.standalone && facts.mainModule === entries.cli) {
    return selfArgv({ ...facts, mainModule: entries.supervisor }, extra);
  }
  return selfArgv(facts, extra);
}

/**
 * Finds a flag that would make a job detach again: `--detach`, `--detach=…`,
 * `-d`, or a cluster of short flags holding `d` (`-fd`). Arguments after `--`
 * are positional and are not looked at.
 */
export function findDetachFlag(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    if (arg === "--") return undefined;
    if (arg === "--detach" || arg.startsWith("--detach=")) return arg;
    if (/^-[A-Za-z]*d[A-Za-z]*$/.test(arg)) return arg;
  }
  return undefined;
}
