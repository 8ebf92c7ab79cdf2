// How the current program is started again: as a job's supervisor and as
// its worker. Light on purpose (no imports): the CLI's entry loads it.

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

let supervisorHookCalled = false;

/** Notes that the program calls superviseIfRequested(), as spawn() needs. */
export function markSupervisorHook(): void {
  supervisorHookCalled = true;
}

/** Whether {@linkcode markSupervisorHook} was called. */
export function supervisorHookMarked(): boolean {
  return supervisorHookCalled;
}

/**
 * The `--allow-*` flags for every permission held unscoped. A scoped grant
 * reads as "prompt" for the unscoped query: left out, so the child never
 * gets more than the parent.
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
 * The argv prefix that starts the current program again. A compiled binary
 * takes its arguments directly; under `deno run`, the same permission
 * flags, any extra Deno flags, then the entry module (a path for a local
 * file, the URL for a remote one).
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
 * This package's own entry modules: the CLI (mod.ts, and cli/main.ts beside
 * it), and the module that only supervises (_supervise.ts).
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
 * The argv prefix that starts a job's supervisor. For this package's CLI
 * it is the small supervisor module, so the CLI's modules do not stay in
 * memory for the job's life; any other program (or a compiled binary) is
 * started again as it is: only it knows how to reach superviseIfRequested().
 */
export function supervisorArgv(
  facts: RuntimeFacts,
  extra: { permissionFlags?: string[]; denoFlags?: string[] } = {},
  entries: PackageEntries = PACKAGE_ENTRIES,
): string[] {
  const cli = [entries.cli, new URL("cli/main.ts", entries.cli).href];
  if (!facts.standalone && cli.includes(facts.mainModule)) {
    return selfArgv({ ...facts, mainModule: entries.supervisor }, extra);
  }
  return selfArgv(facts, extra);
}

/**
 * A flag that would make a job detach again: `--detach`, `--detach=…`, `-d`,
 * or short flags holding `d` (`-fd`); none after `--`.
 */
export function findDetachFlag(argv: readonly string[]): string | undefined {
  for (const arg of argv) {
    if (arg === "--") return undefined;
    if (arg === "--detach" || arg.startsWith("--detach=")) return arg;
    if (/^-[A-Za-z]*d[A-Za-z]*$/.test(arg)) return arg;
  }
  return undefined;
}
