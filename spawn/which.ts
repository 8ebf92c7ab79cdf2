// Finding a program the way a POSIX shell does, in one place: spawn(), the
// worker and the CLI's `run` ask this, so they give the same answer, message
// and exit code (127 not found, 126 found but cannot be executed).

/** What {@linkcode findExecutable} found. */
export type ExecutableLookup =
  | { ok: true; path: string }
  | { ok: false; reason: "not_found" | "not_executable" | "is_directory" }
  | {
    ok: false;
    /**
     * A script whose `#!` interpreter is missing or cannot be executed: 126,
     * the script was found (bash and dash say 127 "not found", which sends
     * the user looking for the wrong file).
     */
    reason: "bad_interpreter";
    path: string;
    interpreter: string;
  };

/** The reasons {@linkcode findExecutable} gives for a program it refuses. */
export type LookupFailure = Extract<ExecutableLookup, { ok: false }>;

/** Where {@linkcode findExecutable} looks: `path` as in `PATH`, "" none. */
export interface FindExecutableOptions {
  cwd: string;
  path: string;
}

// Linux reads at most this much of a file for its `#!` line (BINPRM_BUF_SIZE).
const SHEBANG_MAX = 256;

/**
 * Looks a program up as a shell would: a name holding a `/` is a path
 * (from `cwd`); any other is searched for in `path`, where the first
 * executable file wins and a non-executable one is reported only if none
 * follows. An executable `#!` script has its interpreter checked too.
 *
 * @throws {Deno.errors.NotCapable} Without read permission for a path.
 */
export function findExecutable(
  command: string,
  options: FindExecutableOptions,
): ExecutableLookup {
  if (command === "") return { ok: false, reason: "not_found" };
  if (command.includes("/")) {
    const path = command.startsWith("/")
      ? command
      : joinPath(options.cwd, command);
    const info = statOrUndefined(path);
    if (info === undefined) return { ok: false, reason: "not_found" };
    if (info.isDirectory) return { ok: false, reason: "is_directory" };
    return executable(info)
      ? checkInterpreter(path, options.cwd)
      : { ok: false, reason: "not_executable" };
  }
  let sawFile = false;
  for (const dir of options.path.split(":")) {
    // An empty entry is the current directory to a shell.
    const candidate = joinPath(dir === "" ? options.cwd : dir, command);
    const info = statOrUndefined(candidate);
    if (info === undefined || info.isDirectory) continue;
    // A shell runs the first executable file it finds, and does not look
    // further if the kernel then refuses its interpreter.
    if (executable(info)) return checkInterpreter(candidate, options.cwd);
    sawFile = true;
  }
  return { ok: false, reason: sawFile ? "not_executable" : "not_found" };
}

/** The message and exit code for a program that cannot run, as a shell. */
export function describeLookupFailure(
  program: string,
  failure: LookupFailure,
): { message: string; exitCode: 126 | 127 } {
  if (failure.reason === "not_found") {
    return { message: `Command not found: ${program}`, exitCode: 127 };
  }
  const why = failure.reason === "bad_interpreter"
    ? `bad interpreter ${failure.interpreter}`
    : failure.reason === "is_directory"
    ? "is a directory"
    : "permission denied";
  return { message: `Cannot execute ${program}: ${why}`, exitCode: 126 };
}

/**
 * Checks the `#!` interpreter of an executable file. One that cannot be
 * read here (execute-only) is taken as found: the kernel may still run it.
 */
function checkInterpreter(path: string, cwd: string): ExecutableLookup {
  const interpreter = shebangInterpreter(path);
  if (interpreter === undefined) return { ok: true, path };
  // The kernel takes a relative interpreter from the cwd of the exec.
  const info = statOrUndefined(
    interpreter.startsWith("/") ? interpreter : joinPath(cwd, interpreter),
  );
  if (info !== undefined && !info.isDirectory && executable(info)) {
    return { ok: true, path };
  }
  return { ok: false, reason: "bad_interpreter", path, interpreter };
}

function shebangInterpreter(path: string): string | undefined {
  const head = new Uint8Array(SHEBANG_MAX);
  let n = 0;
  try {
    using file = Deno.openSync(path);
    while (n < head.length) {
      const got = file.readSync(head.subarray(n));
      if (!got) break;
      n += got;
    }
  } catch (err) {
    if (gone(err) || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
  if (head[0] !== 0x23 || head[1] !== 0x21) return undefined; // "#!"
  const end = head.subarray(0, n).indexOf(0x0a);
  const line = new TextDecoder().decode(head.subarray(2, end < 0 ? n : end));
  // As the kernel reads it: blanks (not a CR) skipped, then the interpreter
  // up to the next blank. An empty one fails with ENOEXEC, and shells run
  // the file themselves: not this function's concern.
  return line.replace(/^[ \t]+/, "").split(/[ \t]/)[0] || undefined;
}

/** Whether `err` says there is no such file (a path through a file too). */
export function gone(err: unknown): boolean {
  return err instanceof Deno.errors.NotFound ||
    err instanceof Deno.errors.NotADirectory;
}

function statOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.statSync(path);
  } catch (err) {
    if (gone(err) || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
}

// Root may execute a file with any execute bit; for others, checking the
// owner/group/other split would need our uid and groups. A file with no
// execute bit cannot run for anyone.
function executable(info: Deno.FileInfo): boolean {
  return info.isFile && (info.mode === null || (info.mode & 0o111) !== 0);
}

function joinPath(dir: string, name: string): string {
  return dir.endsWith("/") ? dir + name : `${dir}/${name}`;
}
