// Finding a program the way a POSIX shell does, in one place: spawn() and
// the CLI's `run` both ask this, so they give the same answer (and the same
// exit code: 127 not found, 126 found but cannot be executed).

/** What {@linkcode findExecutable} found. */
export type ExecutableLookup =
  | { ok: true; path: string }
  | {
    ok: false;
    /**
     * `not_found`: nothing by that name (a shell's 127).
     * `not_executable`: a file without execute permission (126).
     * `is_directory`: a path naming a directory (126).
     */
    reason: "not_found" | "not_executable" | "is_directory";
  };

/** Where {@linkcode findExecutable} looks. */
export interface FindExecutableOptions {
  /** The directory a relative path is taken from. */
  cwd: string;
  /** The search path, `:`-separated, as in `PATH`. Empty means none. */
  path: string;
}

/**
 * Looks a program up as a shell would: a name holding a `/` is a path
 * (relative to `cwd`); any other name is searched for in `path`, where
 * directories are skipped and the first executable file wins. A
 * non-executable file found on the way is reported only if nothing
 * executable is found after it.
 */
export function findExecutable(
  command: string,
  options: FindExecutableOptions,
): ExecutableLookup {
  if (command === "") return { ok: false, reason: "not_found" };
  if (command.includes("/")) {
    const path = command.startsWith("/") ? command : joinPath(
      options.cwd,
      command,
    );
    const info = statOrUndefined(path);
    if (info === undefined) return { ok: false, reason: "not_found" };
    if (info.isDirectory) return { ok: false, reason: "is_directory" };
    return executable(info)
      ? { ok: true, path }
      : { ok: false, reason: "not_executable" };
  }
  let sawFile = false;
  for (const dir of options.path.split(":")) {
    // An empty entry means the current directory to a shell; we follow
    // dash and bash in that, but only for absolute search entries is that
    // safe, so an empty entry is taken as cwd explicitly.
    const base = dir === "" ? options.cwd : dir;
    const candidate = joinPath(base, command);
    const info = statOrUndefined(candidate);
    if (info === undefined || info.isDirectory) continue;
    if (executable(info)) return { ok: true, path: candidate };
    sawFile = true;
  }
  return { ok: false, reason: sawFile ? "not_executable" : "not_found" };
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (err) {
    if (
      err instanceof Deno.errors.NotFound ||
      err instanceof Deno.errors.NotADirectory ||
      err instanceof Deno.errors.PermissionDenied
    ) return undefined;
    throw err;
  }
}

function executable(info: Deno.FileInfo): boolean {
  // Root may execute a file with any execute bit; others need theirs, but
  // checking the owner/group/other split would need our uid and groups. A
  // file with no execute bit at all cannot run for anyone.
  return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
