// The `jobs` command of the epack CLI: list, show, follow, wait for, cancel
// and clean background jobs. cli.ts hands it the arguments after `jobs`.
//
// Everything it prints on failure is one `error: ...` line on stderr (plus a
// hint for usage errors, and with --json an error object on stdout); it
// never throws and never prints a stack trace.

import { parseArgs } from "node:util";
import { constants as osConstants } from "node:os";
import { resolve } from "node:path";
import {
  AmbiguousJobIdError,
  FINAL_STATUSES,
  type InvalidJobFile,
  InvalidJobIdError,
  type Job,
  JOB_STATUSES,
  type JobStatus,
  JobStore,
  validateJobId,
} from "./jobs.ts";
import { toRecord } from "./_record.ts";
import { defaultJobsDir } from "./detach.ts";
import { cancel, cleanJobs, waitForJob, WaitTimeoutError } from "./control.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import {
  CliError,
  colorEnabled,
  EXIT,
  paint,
  usageError,
} from "./_cli_util.ts";

/**
 * The exit codes of `epack jobs wait` beyond the job's own exit code, as
 * documented in the README ("Exit codes").
 */
export const WAIT_EXIT = {
  /** The job timed out (as `timeout(1)` reports a command that timed out). */
  TIMED_OUT: 124,
  /** The job was cancelled (as a shell reports a command stopped by Ctrl-C). */
  CANCELLED: 130,
  /**
   * `--timeout` passed while the job was still running: EX_TEMPFAIL from
   * sysexits.h, "try again later".
   */
  WAIT_TIMEOUT: 75,
} as const;

/** How many log lines `jobs <id>` shows. */
const SHOW_TAIL_LINES = 10;
/**
 * The most bytes `jobs <id>` reads from the end of a log: enough for ten
 * ordinary lines, and a bound when the log has enormous lines or none.
 */
const SHOW_TAIL_MAX_BYTES = 64 * 1024;
const CHUNK = 64 * 1024;
const DEFAULT_CLEAN_AGE = 24 * 60 * 60 * 1000;
/** The shortest ID prefix accepted, so a typo cannot pick a random job. */
const MIN_PREFIX = 4;
/** How many candidates an ambiguous prefix lists before "and N more". */
const MAX_CANDIDATES = 10;

/**
 * Runs `epack jobs ...` and returns the exit code. Errors are reported on
 * stderr, never thrown.
 *
 * Requires `--allow-read` (the jobs directory and logs), `--allow-write`
 * (`clean`, `cancel`), `--allow-run` (`cancel`), and optionally
 * `--allow-env` (`NO_COLOR`).
 *
 * @param args The arguments after `jobs`.
 * @returns The process exit code: see the README, "Exit codes".
 *
 * @example From the CLI's dispatcher
 * ```ts ignore
 * import { jobsCommand } from "./cli_jobs.ts";
 *
 * Deno.exit(await jobsCommand(["wait", "01JD0Q2V", "--timeout", "10m"]));
 * ```
 */
export async function jobsCommand(args: string[]): Promise<number> {
  try {
    return await dispatch(args);
  } catch (err) {
    return await report(err, wantsJson(args));
  }
}

/**
 * The exit code `epack jobs wait` passes on for a job that has ended:
 *
 * | status      | exit code                                      |
 * | ----------- | ---------------------------------------------- |
 * | `completed` | 0                                              |
 * | `failed`    | its exit code N (1–255); 128 + signal number if a signal killed it; 1 otherwise |
 * | `timed_out` | 124                                            |
 * | `cancelled` | 130                                            |
 * | `lost`      | 1 (how it ended is unknown)                    |
 *
 * @param job A job that has ended.
 * @returns The exit code; 1 for a job that is still running.
 *
 * @example A job killed by SIGKILL
 * ```ts ignore
 * jobExitCode({ ...job, status: "failed", signal: "SIGKILL" }); // 137
 * ```
 */
export function jobExitCode(job: Job): number {
  switch (job.status) {
    case "completed":
      return EXIT.OK;
    case "timed_out":
      return WAIT_EXIT.TIMED_OUT;
    case "cancelled":
      return WAIT_EXIT.CANCELLED;
    case "failed": {
      const code = job.exitCode;
      if (code !== undefined && code >= 1 && code <= 255) return code;
      const signo = job.signal === undefined
        ? undefined
        : signalNumber(job.signal);
      if (signo !== undefined) return 128 + signo;
      return EXIT.FAILURE;
    }
    default:
      return EXIT.FAILURE;
  }
}

/** What {@linkcode readLogTail} found. */
export interface LogTail {
  /** The last lines, without their newlines. */
  lines: string[];
  /**
   * Whether `maxBytes` was reached before enough lines were found, so the
   * first line may be cut.
   */
  truncated: boolean;
  /** How many bytes were read from the file, to prove the bound. */
  bytesRead: number;
}

/** Options for {@linkcode readLogTail}. */
export interface LogTailOptions {
  /**
   * How many lines.
   * @default {10}
   */
  lines?: number;
  /**
   * Read at most about this many bytes from the end, however long the
   * lines are.
   * @default {65536}
   */
  maxBytes?: number;
}

/**
 * Reads the last lines of a log without reading the rest: it scans back
 * from the end in chunks, so a 50 GB log costs what a 50 KB one does.
 *
 * Requires `--allow-read`.
 *
 * @param path The log file.
 * @param options How many lines, and the byte bound.
 * @returns The lines, whether the bound cut them, and the bytes read.
 * @throws {Deno.errors.NotFound} If there is no such file.
 *
 * @example The last three lines
 * ```ts ignore
 * const { lines } = await readLogTail(job.logPath, { lines: 3 });
 * ```
 */
export async function readLogTail(
  path: string,
  options: LogTailOptions = {},
): Promise<LogTail> {
  const n = options.lines ?? SHOW_TAIL_LINES;
  const maxBytes = options.maxBytes ?? SHOW_TAIL_MAX_BYTES;
  using file = await Deno.open(path, { read: true });
  const size = (await file.stat()).size;
  const found = await tailStart(file, size, n, maxBytes);
  const bytes = new Uint8Array(size - found.start);
  const got = await readAt(file, found.start, bytes);
  const text = new TextDecoder().decode(bytes.subarray(0, got));
  const lines = text === "" ? [] : text.split("\n");
  if (text.endsWith("\n")) lines.pop();
  return {
    lines,
    truncated: found.truncated,
    bytesRead: found.bytesRead + got,
  };
}

// ---------------------------------------------------------------------------
// Arguments

type Sub = "list" | "show" | "logs" | "wait" | "cancel" | "clean";
const SUBCOMMANDS: readonly Sub[] = [
  "list",
  "show",
  "logs",
  "wait",
  "cancel",
  "clean",
];

type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string }
>;

const COMMON: OptionSpec = {
  json: { type: "boolean" },
  "jobs-dir": { type: "string" },
  help: { type: "boolean", short: "h" },
};
const LIST: OptionSpec = {
  ...COMMON,
  all: { type: "boolean", short: "a" },
  status: { type: "string" },
  clean: { type: "boolean" },
  "older-than": { type: "string" },
};
const SPECS: Record<Sub, OptionSpec> = {
  list: LIST,
  show: COMMON,
  logs: {
    ...COMMON,
    follow: { type: "boolean", short: "f" },
    lines: { type: "string", short: "n" },
  },
  wait: { ...COMMON, timeout: { type: "string" } },
  cancel: { ...COMMON, grace: { type: "string" } },
  clean: { ...COMMON, "older-than": { type: "string" } },
};
const ALL_OPTIONS: OptionSpec = Object.assign({}, ...Object.values(SPECS));

interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

function parse(args: string[], spec: OptionSpec, command: string): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: spec,
      strict: true,
      allowPositionals: true,
    });
    return {
      values: values as Record<string, string | boolean | undefined>,
      positionals,
    };
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      throw usageError(parseArgsMessage((err as Error).message), command);
    }
    throw err;
  }
}

/** node:util's messages, cut to the part that helps on a command line. */
function parseArgsMessage(message: string): string {
  const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(message);
  if (ambiguous) {
    return `Option '${
      ambiguous[1]
    }' needs a value that does not start with '-'`;
  }
  // "Unknown option '--x'. To specify a positional argument starting with
  // a '-', ..." is advice for positionals, which our IDs never look like.
  return oneLine(message).replace(/^(Unknown option '[^']*')\..*$/, "$1");
}

/**
 * Finds the subcommand: the first positional argument, wherever the options
 * are (`jobs --jobs-dir d wait X` works), if it names one. An ID that
 * happens to spell a subcommand can still be shown with `jobs show <id>`.
 */
function splitSubcommand(args: string[]): { sub?: Sub; rest: string[] } {
  const { tokens } = parseArgs({
    args,
    options: ALL_OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens ?? []) {
    if (token.kind === "option-terminator") break;
    if (token.kind !== "positional") continue;
    if (!(SUBCOMMANDS as readonly string[]).includes(token.value)) break;
    const rest = [...args];
    rest.splice(token.index, 1);
    return { sub: token.value as Sub, rest };
  }
  return { rest: args };
}

async function dispatch(args: string[]): Promise<number> {
  const { sub, rest } = splitSubcommand(args);
  const command = sub === undefined ? "jobs" : `jobs ${sub}`;
  const { values, positionals } = parse(rest, SPECS[sub ?? "list"], command);
  if (values.help === true) {
    await out(HELP[sub ?? "jobs"]);
    return EXIT.OK;
  }
  const json = values.json === true;
  const dirFlag = values["jobs-dir"] as string | undefined;
  if (dirFlag === "") throw usageError("--jobs-dir needs a directory", command);
  const store = new JobStore(dirFlag ?? defaultJobsDir());
  const duration = (flag: string, fallback?: number) => {
    const text = values[flag] as string | undefined;
    if (text === undefined) return fallback;
    try {
      return parseDuration(text);
    } catch {
      throw usageError(
        `Invalid --${flag} value ${
          JSON.stringify(text)
        }: use a duration like 90s, 1h30m or 500ms`,
        command,
      );
    }
  };
  const one = async () => {
    if (positionals.length === 0) throw usageError("Missing job ID", command);
    if (positionals.length > 1) {
      throw usageError(
        `Unexpected argument ${JSON.stringify(positionals[1])}`,
        command,
      );
    }
    return await resolveJobId(store, positionals[0], command);
  };

  switch (sub) {
    case undefined:
    case "list": {
      const listing = values.all === true || values.status !== undefined;
      if (values.clean === true) {
        if (listing || positionals.length > 0) {
          throw usageError(
            "--clean cannot be combined with --all, --status or a job ID",
            command,
          );
        }
        return await clean(store, duration("older-than", DEFAULT_CLEAN_AGE)!, {
          json,
        });
      }
      if (values["older-than"] !== undefined) {
        throw usageError("--older-than goes with --clean", command);
      }
      if (sub === undefined && positionals.length > 0) {
        if (listing) {
          throw usageError(
            "--all and --status list jobs; they cannot be used with a job ID",
            command,
          );
        }
        return await show(store, await one(), { json });
      }
      if (positionals.length > 0) {
        throw usageError(
          `Unexpected argument ${JSON.stringify(positionals[0])}`,
          command,
        );
      }
      const status = values.status as string | undefined;
      if (
        status !== undefined &&
        !(JOB_STATUSES as readonly string[]).includes(status)
      ) {
        throw usageError(
          `Invalid --status ${JSON.stringify(status)}: use one of ${
            JOB_STATUSES.join(", ")
          }`,
          command,
        );
      }
      return await list(store, {
        status: status as JobStatus | undefined,
        all: values.all === true,
        json,
      });
    }
    case "show":
      return await show(store, await one(), { json });
    case "logs": {
      const linesText = values.lines as string | undefined;
      let lines: number | undefined;
      if (linesText !== undefined) {
        if (!/^\d+$/.test(linesText) || !Number.isSafeInteger(+linesText)) {
          throw usageError(
            `Invalid -n value ${
              JSON.stringify(linesText)
            }: use a whole number of lines`,
            command,
          );
        }
        lines = Number(linesText);
      }
      return await logs(store, await one(), {
        follow: values.follow === true,
        lines,
        json,
      });
    }
    case "wait": {
      const timeout = duration("timeout");
      return await wait(store, await one(), { timeout, json });
    }
    case "cancel": {
      const grace = duration("grace");
      return await cancelJob(store, await one(), { grace, json });
    }
    case "clean": {
      if (positionals.length > 0) {
        throw usageError(
          `Unexpected argument ${JSON.stringify(positionals[0])}`,
          command,
        );
      }
      return await clean(store, duration("older-than", DEFAULT_CLEAN_AGE)!, {
        json,
      });
    }
  }
}

async function resolveJobId(
  store: JobStore,
  raw: string,
  command: string,
): Promise<string> {
  try {
    validateJobId(raw);
  } catch (err) {
    if (err instanceof InvalidJobIdError) {
      throw usageError(err.message, command);
    }
    throw err;
  }
  if (raw.length < MIN_PREFIX) {
    throw usageError(
      `Job ID prefix too short: ${
        JSON.stringify(raw)
      } (give at least ${MIN_PREFIX} characters)`,
      command,
    );
  }
  try {
    return await store.resolveId(raw);
  } catch (err) {
    if (err instanceof AmbiguousJobIdError) {
      const shown = err.candidates.slice(0, MAX_CANDIDATES).join(", ");
      const more = err.candidates.length - MAX_CANDIDATES;
      throw new CliError(
        `Ambiguous job ID prefix ${raw}: matches ${shown}${
          more > 0 ? ` and ${more} more` : ""
        }`,
        { cause: err },
      );
    }
    throw err;
  }
}

// ---------------------------------------------------------------------------
// Subcommands

async function list(
  store: JobStore,
  options: { status?: JobStatus; all: boolean; json: boolean },
): Promise<number> {
  const status = options.status ?? (options.all ? undefined : "running");
  const { jobs, invalid } = await store.list(status ? { status } : {});
  const now = Date.now();
  if (options.json) {
    // Warnings go in the document only: a --json reader gets one complete
    // answer on stdout.
    await outJson({
      jobs: jobs.map((job) => jobJson(job, now)),
      invalid: invalid.map((bad: InvalidJobFile) => ({ ...bad })),
    });
    return EXIT.OK;
  }
  for (const bad of invalid) {
    await err(
      `warning: skipping invalid job file ${safe(bad.id)}: ${safe(bad.reason)}`,
    );
  }
  if (jobs.length === 0) {
    if (status === "running") {
      await out("No running jobs.\nUse --all to show jobs that have ended.\n");
    } else if (status !== undefined) {
      await out(`No ${status} jobs.\n`);
    } else {
      await out("No jobs.\n");
    }
    return EXIT.OK;
  }
  const color = colorEnabled(Deno.stdout);
  await out(renderTable(jobs, { now, color, width: terminalWidth() }));
  return EXIT.OK;
}

async function show(
  store: JobStore,
  id: string,
  options: { json: boolean },
): Promise<number> {
  const job = await store.load(id);
  const now = Date.now();
  const logPath = logPathOf(store, job);
  let tail: LogTail | undefined;
  let tailError: string | undefined;
  try {
    tail = await readLogTail(logPath, {
      lines: SHOW_TAIL_LINES,
      maxBytes: SHOW_TAIL_MAX_BYTES,
    });
  } catch (e) {
    tailError = e instanceof Deno.errors.NotFound
      ? "the log file does not exist"
      : oneLine(e instanceof Error ? e.message : String(e));
  }
  if (options.json) {
    await outJson({
      ...jobJson(job, now),
      log_tail: tail?.lines ?? null,
      ...(tailError !== undefined ? { log_error: tailError } : {}),
    });
    return EXIT.OK;
  }
  const color = colorEnabled(Deno.stdout);
  let text = renderDetails(job, { now, color });
  if (tail !== undefined) {
    if (tail.lines.length === 0) {
      text += "\nThe log is empty.\n";
    } else {
      text += `\nLast ${tail.lines.length} line${
        tail.lines.length === 1 ? "" : "s"
      } of the log:\n`;
      tail.lines.forEach((line, i) => {
        const cut = i === 0 && tail!.truncated ? "…" : "";
        text += `  ${cut}${line}\n`;
      });
    }
  } else {
    text += `\nNo log to show: ${tailError}\n`;
  }
  await out(text);
  return EXIT.OK;
}

async function logs(
  store: JobStore,
  id: string,
  options: { follow: boolean; lines?: number; json: boolean },
): Promise<number> {
  const job = await store.load(id);
  const logPath = logPathOf(store, job);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(logPath, { read: true });
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CliError(`Log file not found: ${logPath}`, { cause: e });
    }
    throw e;
  }
  const sink = options.json ? new JsonLines() : undefined;
  const write = sink
    ? (chunk: Uint8Array) => sink.push(chunk)
    : (chunk: Uint8Array) => writeAll(Deno.stdout, chunk);
  try {
    let start = 0;
    if (options.lines !== undefined) {
      const size = (await file.stat()).size;
      start = (await tailStart(file, size, options.lines, Infinity)).start;
    }
    let pos = await copyFrom(file, start, write);
    if (options.follow) {
      pos = await follow(store, job, logPath, file, pos, write);
    }
    await sink?.flush();
  } finally {
    file.close();
  }
  return EXIT.OK;
}

async function wait(
  store: JobStore,
  id: string,
  options: { timeout?: number; json: boolean },
): Promise<number> {
  let job: Job;
  try {
    job = await waitForJob(id, {
      jobsDir: store.dir,
      timeout: options.timeout,
    });
  } catch (e) {
    if (e instanceof WaitTimeoutError) {
      throw new CliError(
        `Timed out after ${
          formatDuration(options.timeout ?? 0)
        } waiting for job ${id}; it is still running`,
        { exitCode: WAIT_EXIT.WAIT_TIMEOUT, cause: e },
      );
    }
    throw e;
  }
  const code = jobExitCode(job);
  if (options.json) {
    await outJson({ ...jobJson(job, Date.now()), cli_exit_code: code });
  } else {
    const color = colorEnabled(Deno.stdout);
    const took = durationOf(job, Date.now());
    await out(
      `Job ${job.id} ${paintStatus(color, job.status)}${outcomeDetail(job)}${
        took === undefined ? "" : ` after ${formatDuration(took)}`
      }\n`,
    );
  }
  return code;
}

async function cancelJob(
  store: JobStore,
  id: string,
  options: { grace?: number; json: boolean },
): Promise<number> {
  const result = await cancel(id, { jobsDir: store.dir, grace: options.grace });
  if (options.json) {
    await outJson({
      outcome: result.outcome,
      message: result.message,
      job: jobJson(result.job, Date.now()),
    });
  } else {
    await out(`${safe(result.message)}\n`);
  }
  return EXIT.OK;
}

async function clean(
  store: JobStore,
  olderThan: number,
  options: { json: boolean },
): Promise<number> {
  const removed = await cleanJobs(olderThan, { jobsDir: store.dir });
  if (options.json) {
    // "cleaned" is epack's key for the count.
    await outJson({ cleaned: removed.length, removed });
  } else {
    const n = removed.length;
    await out(
      `Removed ${n} job${n === 1 ? "" : "s"} that ended more than ${
        formatDuration(olderThan)
      } ago.\n`,
    );
  }
  return EXIT.OK;
}

// ---------------------------------------------------------------------------
// Logs: tail and follow

/**
 * Where the last `n` lines of a file begin, scanning back from `size` in
 * chunks and reading at most `maxBytes`.
 */
async function tailStart(
  file: Deno.FsFile,
  size: number,
  n: number,
  maxBytes: number,
): Promise<{ start: number; bytesRead: number; truncated: boolean }> {
  if (n <= 0 || size === 0) {
    return { start: size, bytesRead: 0, truncated: false };
  }
  const floor = Math.max(0, size - maxBytes);
  const buf = new Uint8Array(CHUNK);
  let end = size;
  let found = 0;
  let bytesRead = 0;
  while (end > floor) {
    const begin = Math.max(floor, end - CHUNK);
    const got = await readAt(file, begin, buf.subarray(0, end - begin));
    bytesRead += got;
    for (let i = got - 1; i >= 0; i--) {
      // The file's final newline ends its last line rather than starting one.
      if (buf[i] !== 0x0a || begin + i === size - 1) continue;
      if (++found === n) {
        return { start: begin + i + 1, bytesRead, truncated: false };
      }
    }
    end = begin;
  }
  return { start: floor, bytesRead, truncated: floor > 0 };
}

/** Fills `buf` from `offset` unless the file ends first; returns the count. */
async function readAt(
  file: Deno.FsFile,
  offset: number,
  buf: Uint8Array,
): Promise<number> {
  await file.seek(offset, Deno.SeekMode.Start);
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

/** Streams the file from `from` to its current end; returns the new end. */
async function copyFrom(
  file: Deno.FsFile,
  from: number,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<number> {
  await file.seek(from, Deno.SeekMode.Start);
  const buf = new Uint8Array(CHUNK);
  let pos = from;
  for (;;) {
    const n = await file.read(buf);
    if (n === null) return pos;
    pos += n;
    await write(buf.subarray(0, n));
  }
}

/**
 * Prints what is appended to the log until the job ends, then the last
 * bytes. It wakes on changes to the log or the record; a timer covers a
 * supervisor killed with SIGKILL, which writes nothing when it goes.
 */
async function follow(
  store: JobStore,
  job: Job,
  logPath: string,
  file: Deno.FsFile,
  pos: number,
  write: (chunk: Uint8Array) => Promise<void>,
): Promise<number> {
  const record = store.recordPath(job.id);
  const dirs = [...new Set([store.dir, resolve(logPath, "..")])];
  let watcher: Deno.FsWatcher | undefined;
  try {
    watcher = Deno.watchFs(dirs, { recursive: false });
  } catch {
    // Out of inotify watches, say: a short poll still follows the log.
  }
  const period = watcher === undefined ? 250 : 1_000;
  let dirty = false;
  let wake: (() => void) | undefined;
  const pump = (async () => {
    if (watcher === undefined) return;
    try {
      for await (const event of watcher) {
        if (event.paths.some((p) => p === logPath || p === record)) {
          dirty = true;
          wake?.();
        }
      }
    } catch {
      // The watcher was closed.
    }
  })();
  try {
    for (;;) {
      dirty = false;
      pos = await copyFrom(file, pos, write);
      const now = await store.load(job.id);
      if (FINAL_STATUSES.includes(now.status)) {
        // The worker has exited, so whatever it wrote is in the file now.
        return await copyFrom(file, pos, write);
      }
      if (dirty) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((res) => {
        wake = res;
        timer = setTimeout(res, period);
      });
      clearTimeout(timer);
      wake = undefined;
    }
  } finally {
    watcher?.close();
    await pump;
  }
}

/** Turns log bytes into JSON lines, one `{"line": ...}` object per line. */
class JsonLines {
  #decoder = new TextDecoder();
  #carry = "";

  async push(chunk: Uint8Array): Promise<void> {
    const text = this.#carry + this.#decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.#carry = parts.pop()!;
    if (parts.length > 0) await out(parts.map(lineJson).join(""));
  }

  async flush(): Promise<void> {
    const rest = this.#carry + this.#decoder.decode();
    this.#carry = "";
    if (rest !== "") await out(lineJson(rest));
  }
}

function lineJson(line: string): string {
  return JSON.stringify({ line }) + "\n";
}

function logPathOf(store: JobStore, job: Job): string {
  // Records always carry it; an empty one (a hand-made record) falls back to
  // where the store would put it.
  return job.logPath === ""
    ? store.logPath(job.id)
    : resolve(store.dir, job.logPath);
}

// ---------------------------------------------------------------------------
// Rendering

/** The record as on disk, plus what a reader would otherwise compute. */
function jobJson(job: Job, now: number): Record<string, unknown> {
  return { ...toRecord(job), duration_ms: durationOf(job, now) ?? null };
}

/** Ended jobs: how long they ran. Running jobs: how long so far. */
function durationOf(job: Job, now: number): number | undefined {
  const start = job.startedAt.getTime();
  if (job.completedAt !== undefined) {
    return Math.max(0, job.completedAt.getTime() - start);
  }
  if (job.status === "running") return Math.max(0, now - start);
  // A lost job has no recorded end.
  return undefined;
}

/** An elapsed time to read at a glance: "250ms", "8.2s", "1m30s". */
function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  return formatDuration(Math.floor(ms / 1000) * 1000);
}

function renderTable(
  jobs: Job[],
  options: { now: number; color: boolean; width?: number },
): string {
  const rows = jobs.map((job) => ({
    id: safe(job.id),
    status: job.status as string,
    command: safe(commandLine(job)),
    started: relativeTime(job.startedAt, options.now),
    duration: (() => {
      const d = durationOf(job, options.now);
      return d === undefined ? "-" : humanDuration(d);
    })(),
  }));
  const head = {
    id: "ID",
    status: "STATUS",
    command: "COMMAND",
    started: "STARTED",
    duration: "DURATION",
  };
  const w = (key: keyof typeof head) =>
    Math.max(head[key].length, ...rows.map((r) => r[key].length));
  const widths = {
    id: w("id"),
    status: w("status"),
    started: w("started"),
    duration: w("duration"),
  };
  const others = widths.id + widths.status + widths.started + widths.duration +
    4 * 2;
  // On a terminal the command gets what is left of the line; in a pipe a
  // fixed bound keeps rows readable without depending on the reader.
  const room = options.width !== undefined
    ? Math.max(20, options.width - others)
    : 60;
  const cmdWidth = Math.min(w("command"), room);
  const line = (
    r: typeof head,
    paintStatus: (s: string) => string = (s) => s,
  ) =>
    [
      r.id.padEnd(widths.id),
      paintStatus(r.status) + " ".repeat(widths.status - r.status.length),
      truncate(r.command, cmdWidth).padEnd(cmdWidth),
      r.started.padEnd(widths.started),
      r.duration,
    ].join("  ") + "\n";
  return line(head) +
    rows.map((r) => line(r, (s) => paintStatus(options.color, s as JobStatus)))
      .join("");
}

function renderDetails(
  job: Job,
  options: { now: number; color: boolean },
): string {
  const rows: [string, string][] = [];
  const add = (label: string, value: string | undefined) => {
    if (value !== undefined) rows.push([label, value]);
  };
  const when = (d: Date | undefined) =>
    d === undefined
      ? undefined
      : `${localTime(d)} (${relativeTime(d, options.now)})`;
  add("Status", paintStatus(options.color, job.status) + outcomeDetail(job));
  add("Command", safe(commandLine(job)));
  add("Working dir", job.workingDir && safe(job.workingDir));
  add("PID", job.pid > 0 ? `${job.pid} (supervisor)` : undefined);
  add("Worker PID", job.workerPid?.toString());
  add("Started", when(job.startedAt));
  add("Completed", when(job.completedAt));
  const d = durationOf(job, options.now);
  add(
    "Duration",
    d === undefined
      ? "unknown"
      : humanDuration(d) + (job.status === "running" ? " so far" : ""),
  );
  add("Exit code", job.exitCode?.toString());
  add("Signal", job.signal && safe(job.signal));
  add("Error", job.error && safe(job.error));
  add(
    "Timeout",
    job.timeout === undefined
      ? undefined
      : job.timeout === 0
      ? "none"
      : formatDuration(job.timeout),
  );
  add(
    "Kill grace",
    job.grace === undefined ? undefined : formatDuration(job.grace),
  );
  add("Cancel requested", when(job.cancelRequestedAt));
  add("Result", job.result && safe(JSON.stringify(job.result)));
  add("Log", safe(job.logPath));
  const pad = Math.max(...rows.map(([label]) => label.length)) + 1;
  return `Job ${safe(job.id)}\n` +
    rows.map(([label, value]) => `  ${(label + ":").padEnd(pad)} ${value}\n`)
      .join("");
}

/** " (exit code 3)" and the like, after the status word. */
function outcomeDetail(job: Job): string {
  if (job.status === "failed" || job.status === "timed_out") {
    if (job.signal !== undefined) return ` (killed by ${safe(job.signal)})`;
    if (job.exitCode !== undefined && job.exitCode !== 0) {
      return ` (exit code ${job.exitCode})`;
    }
  }
  return "";
}

const STATUS_COLORS: Record<JobStatus, number> = {
  running: 33, // yellow
  completed: 32, // green
  failed: 31, // red
  timed_out: 31, // red
  cancelled: 90, // grey
  lost: 35, // magenta
};

function paintStatus(color: boolean, status: JobStatus): string {
  return paint(color, STATUS_COLORS[status] ?? 0, status);
}

function commandLine(job: Job): string {
  return [job.command, ...job.args, ...job.flags].map(shellQuote).join(" ");
}

/** Quotes a word the way a POSIX shell would need it, only when needed. */
function shellQuote(word: string): string {
  if (word === "") return "''";
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * Escapes control characters, so a record cannot move the cursor, clear
 * the screen or break a table row when it is printed.
 */
function safe(text: string): string {
  let result = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || (c >= 0x7f && c < 0xa0)) {
      result += ch === "\n"
        ? "\\n"
        : ch === "\t"
        ? "\\t"
        : `\\x${c.toString(16).padStart(2, "0")}`;
    } else {
      result += ch;
    }
  }
  return result;
}

function truncate(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, width - 1) + "…";
}

const RELATIVE = new Intl.RelativeTimeFormat("en", { numeric: "always" });

/** "3 minutes ago", with the largest unit that fits, as epack prints it. */
function relativeTime(date: Date, now: number): string {
  const seconds = Math.trunc((now - date.getTime()) / 1000);
  const abs = Math.abs(seconds);
  if (abs < 1) return "just now";
  const units: [Intl.RelativeTimeFormatUnit, number][] = [
    ["year", 365 * 86400],
    ["month", 30 * 86400],
    ["week", 7 * 86400],
    ["day", 86400],
    ["hour", 3600],
    ["minute", 60],
    ["second", 1],
  ];
  for (const [unit, size] of units) {
    if (abs >= size) {
      return RELATIVE.format(-Math.trunc(seconds / size), unit);
    }
  }
  return "just now";
}

/** Local wall-clock time, `YYYY-MM-DD HH:MM:SS`. */
function localTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${
    p(d.getHours())
  }:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function terminalWidth(): number | undefined {
  if (!Deno.stdout.isTerminal()) return undefined;
  try {
    return Deno.consoleSize().columns;
  } catch {
    return undefined;
  }
}

function signalNumber(name: string): number | undefined {
  const signals = osConstants.signals as Record<string, number | undefined>;
  return signals[name.toUpperCase()];
}

// ---------------------------------------------------------------------------
// Output

const encoder = new TextEncoder();

async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

async function out(text: string): Promise<void> {
  await writeAll(Deno.stdout, encoder.encode(text));
}

async function outJson(value: unknown): Promise<void> {
  await out(JSON.stringify(value, null, 2) + "\n");
}

async function err(line: string): Promise<void> {
  await writeAll(Deno.stderr, encoder.encode(line + "\n"));
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * Prints an error as cli.ts does for the other commands: one line on stderr
 * (a hint after a usage error), and with `--json` an object on stdout too,
 * so a JSON reader is never left with nothing.
 */
async function report(e: unknown, json: boolean): Promise<number> {
  // A reader that went away (`epack jobs logs X | head`) is not an error.
  if (e instanceof Deno.errors.BrokenPipe) return EXIT.OK;
  const code = e instanceof CliError ? e.exitCode : EXIT.FAILURE;
  const message = oneLine(
    e instanceof Deno.errors.NotCapable
      ? `a Deno permission is missing (${e.message}); run with -A`
      : e instanceof Error
      ? e.message
      : String(e),
  );
  try {
    const red = paint(colorEnabled(Deno.stderr), 31, "error:");
    await err(`${red} ${message}`);
    if (e instanceof CliError && e.usage !== undefined) {
      await err(`Run 'epack ${e.usage} --help' for usage.`);
    }
    if (json) {
      await out(JSON.stringify({ error: message, exitCode: code }) + "\n");
    }
  } catch {
    // The streams are gone; the exit code still says it failed.
  }
  return code;
}

/** Whether `--json` was asked for, from a look at the raw arguments. */
function wantsJson(args: string[]): boolean {
  for (const arg of args) {
    if (arg === "--") return false;
    if (arg === "--json") return true;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Help

const COMMON_HELP = `
Options for every subcommand:
      --json           Print machine-readable JSON on stdout
      --jobs-dir DIR   The jobs directory (default: .epack/jobs in the
                       project root, the nearest directory with deno.json)
  -h, --help           Show this help
`;

const HELP: Record<Sub | "jobs", string> = {
  jobs: `List, inspect, follow, wait for, cancel and clean background jobs.

Usage:
  epack jobs [--all | --status STATUS]   List jobs (running ones by default)
  epack jobs list [--all | --status S]   The same
  epack jobs <id>                        Show a job and the end of its log
  epack jobs logs <id> [-f] [-n N]       Print a job's log
  epack jobs wait <id> [--timeout D]     Wait for a job; exit with its code
  epack jobs cancel <id> [--grace D]     Stop a running job
  epack jobs clean [--older-than D]      Remove old ended jobs
  epack jobs --clean                     Same as 'jobs clean'

A job ID may be shortened to a unique prefix of ${MIN_PREFIX} or more characters,
or to its last characters when no ID starts with them.
Run 'epack jobs <subcommand> --help' for details.

Options:
  -a, --all            List every job, not only running ones
      --status STATUS  List jobs with this status: ${JOB_STATUSES.join(", ")}
      --clean          Remove ended jobs older than --older-than (default 24h)
      --older-than D   With --clean: the age, such as 24h, 7d or 90m
${COMMON_HELP}
Examples:
  epack jobs --all
  epack jobs --status failed --json
  epack jobs 01JD0Q2V
`,
  list: `List jobs (running ones by default).

Usage:
  epack jobs list [--all | --status STATUS]

Options:
  -a, --all            List every job
      --status STATUS  Only jobs with this status: ${JOB_STATUSES.join(", ")}
${COMMON_HELP}`,
  show: `Show a job's details and the last ${SHOW_TAIL_LINES} lines of its log.

Usage:
  epack jobs show <id>
  epack jobs <id>
${COMMON_HELP}`,
  logs: `Print a job's log.

Usage:
  epack jobs logs <id> [-f] [-n N]

Options:
  -f, --follow         Keep printing what the job writes until it ends
  -n, --lines N        Only the last N lines
${COMMON_HELP}
With --json, each line is printed as a JSON object {"line": "..."}.

Examples:
  epack jobs logs 01JD0Q2V -n 50
  epack jobs logs 01JD0Q2V -f
`,
  wait: `Wait until a job ends, and exit with its exit code.

Usage:
  epack jobs wait <id> [--timeout D]

Options:
      --timeout D      Give up after D (such as 30s or 10m); 0 checks once
${COMMON_HELP}
Exit codes:
  0     the job completed
  N     the job failed with exit code N
  128+S the job was killed by signal S (137 for SIGKILL)
  ${WAIT_EXIT.TIMED_OUT}   the job timed out
  ${WAIT_EXIT.CANCELLED}   the job was cancelled
  1     the job was lost, or it could not start, or an error (see stderr)
  ${WAIT_EXIT.WAIT_TIMEOUT}    --timeout passed; the job is still running
`,
  cancel:
    `Cancel a running job: SIGTERM to its processes, SIGKILL after the grace
period. Cancelling a job that has ended does nothing.

Usage:
  epack jobs cancel <id> [--grace D]

Options:
      --grace D        Time between SIGTERM and SIGKILL (default: the job's own)
${COMMON_HELP}`,
  clean: `Remove ended jobs (records and logs). Running jobs are never removed.

Usage:
  epack jobs clean [--older-than D]

Options:
      --older-than D   Only jobs that ended longer ago than D (default 24h)
${COMMON_HELP}`,
};
