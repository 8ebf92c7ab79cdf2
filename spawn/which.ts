// Finding a program the way a POSIX shell does, in one place: spawn() and
// the CLI's `run` both ask this, so they give the same answer, the same
// message and the same exit code (127 not found, 126 found but cannot be
// executed), as describeLookupFailure() words them.

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
  }
  | {
    ok: false;
    /**
     * `bad_interpreter`: an executable script whose `#!` line names an
     * interpreter that is missing or cannot be executed (126: the script was
     * found; bash 5.2 and dash say 127 and "not found", which sends the user
     * looking for the wrong file).
     */
    reason: "bad_interpreter";
    /** The script that was found. */
    path: string;
    /** The interpreter its `#!` line names. */
    interpreter: string;
  };

/** The reasons {@linkcode findExecutable} gives for a program it refuses. */
export type LookupFailure = Extract<ExecutableLookup, { ok: false }>;

/** Where {@linkcode findExecutable} looks. */
export interface FindExecutableOptions {
  /** The directory a relative path is taken from. */
  cwd: string;
  /** The search path, `:`-separated, as in `PATH`. Empty means none. */
  path: string;
}

// Linux reads at most this much of a file for its `#!` line (BINPRM_BUF_SIZE).
const SHEBANG_MAX = 256;

/**
 * Looks a program up as a shell would: a name holding a `/` is a path
 * (relative to `cwd`); any other name is searched for in `path`, where
 * directories are skipped and the first executable file wins. A
 * non-executable file found on the way is reported only if nothing
 * executable is found after it. An executable file that starts with `#!` is
 * checked for its interpreter, as the kernel will need it.
 *
 * @throws {Deno.errors.NotCapable} Without Deno's read permission for a
 * path it must look at.
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
      ? checkInterpreter(path, options.cwd)
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
    // A shell runs the first executable file it finds, and does not look
    // further if the kernel then refuses its interpreter.
    if (executable(info)) return checkInterpreter(candidate, options.cwd);
    sawFile = true;
  }
  return { ok: false, reason: sawFile ? "not_executable" : "not_found" };
}

/**
 * The message and exit code for a program that cannot be run, worded as a
 * shell does: `Command not found: X` (127), `Cannot execute X: is a
 * directory`, `… permission denied`, `… bad interpreter /path` (126).
 */
export function describeLookupFailure(
  program: string,
  failure: LookupFailure,
): { message: string; exitCode: 126 | 127 } {
  switch (failure.reason) {
    case "not_found":
      return { message: `Command not found: ${program}`, exitCode: 127 };
    case "is_directory":
      return cannotExecute(program, "is a directory");
    case "not_executable":
      return cannotExecute(program, "permission denied");
    case "bad_interpreter":
      return cannotExecute(program, `bad interpreter ${failure.interpreter}`);
  }
}

function cannotExecute(
  program: string,
  why: string,
): { message: string; exitCode: 126 } {
  return { message: `Cannot execute ${program}: ${why}`, exitCode: 126 };
}

/**
 * The `#!` line's interpreter of an executable file, checked to exist and be
 * executable. A file that cannot be read here (execute-only) is taken as
 * found: the kernel may still run it.
 */
function checkInterpreter(path: string, cwd: string): ExecutableLookup {
  const interpreter = shebangInterpreter(path);
  if (interpreter === undefined) return { ok: true, path };
  // The kernel takes a relative interpreter from the cwd of the exec.
  const full = interpreter.startsWith("/")
    ? interpreter
    : joinPath(cwd, interpreter);
  const info = statOrUndefined(full);
  if (info !== undefined && !info.isDirectory && executable(info)) {
    return { ok: true, path };
  }
  return { ok: false, reason: "bad_interpreter", path, interpreter };
}

function shebangInterpreter(path: string): string | undefined {
  let head: Uint8Array;
  try {
    const file = Deno.openSync(path, { read: true });
    try {
      const buf = new Uint8Array(SHEBANG_MAX);
      let n = 0;
      while (n < buf.length) {
        const got = file.readSync(buf.subarray(n));
        if (got === null || got === 0) break;
        n += got;
      }
      head = buf.subarray(0, n);
    } finally {
      file.close();
    }
  } catch (err) {
    if (
      err instanceof Deno.errors.PermissionDenied ||
      err instanceof Deno.errors.NotFound
    ) return undefined;
    throw err;
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return undefined; // "#!"
  const end = head.indexOf(0x0a);
  const line = new TextDecoder().decode(
    head.subarray(2, end === -1 ? head.length : end),
  );
  // As the kernel reads it: blanks (spaces, tabs; not a CR) skipped, then
  // the interpreter up to the next blank; what follows is its argument.
  const interpreter = line.replace(/^[ \t]+/, "").split(/[ \t]/)[0];
  // An empty `#!` line makes execve fail with ENOEXEC, and shells then run
  // the file themselves: not this function's concern.
  return interpreter === "" ? undefined : interpreter;
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
