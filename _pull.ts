// The `pull` command: parse its arguments, choose a pack from a registry,
// stream it into a temp file beside the output while hashing it, check it,
// and only then move it into place. Or, with --detach, start all that as a
// job with exactly the flags buildPullFlags() makes.

import { basename, dirname, join, resolve, sep } from "node:path";
import { buildPullFlags, type PullOptions } from "./flags.ts";
import { defaultJobsDir, findWorkingDir } from "./detach.ts";
import { parseDuration } from "./duration.ts";
import {
  CliError,
  colorEnabled,
  DetailedError,
  EXIT,
  paint,
  usageError,
} from "./_cli_util.ts";
import { type FlagSpecs, parseFlags } from "./_cli_args.ts";
import { formatBytes, Progress } from "./_progress.ts";
import { startJob } from "./_detached.ts";
import {
  describe,
  isDigest,
  loadIndex,
  NoMatchError,
  type PackEntry,
  type PackLocation,
  parseRemote,
  RegistryError,
  resolveLocation,
  selectPack,
} from "./_registry.ts";

/** A parsed `pull` command line. */
export interface PullCommand {
  /** `--help` was given; nothing else is meaningful. */
  help: boolean;
  /** The registry: a URL or a directory, as given. */
  remote: string;
  /**
   * The pull's options, canonical: only what was given, empty strings left
   * out, `force` only when true, `verify` only when false. The `[ref]`
   * argument is folded into `version`, `releaseId` or `digest`.
   */
  options: PullOptions;
  /** Start the pull as a job. */
  detach: boolean;
  /** Say what would be downloaded; write nothing. */
  dryRun: boolean;
  /** Plain output: no colour, no bar. */
  ci: boolean;
  /** Machine-readable output on stdout. */
  json: boolean;
  /** The jobs directory, as given. */
  jobsDir?: string;
  /** The job's timeout in milliseconds (with `detach` only). */
  timeout?: number;
}

const PULL_FLAGS: FlagSpecs = {
  env: { type: "string" },
  workspace: { type: "string" },
  output: { type: "string", short: "o" },
  digest: { type: "string" },
  release: { type: "string" },
  version: { type: "string" },
  force: { type: "boolean" },
  verify: { type: "boolean" },
  "dry-run": { type: "boolean" },
  ci: { type: "boolean" },
  json: { type: "boolean" },
  detach: { type: "boolean", short: "d" },
  "jobs-dir": { type: "string" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
};

/** The help of `epack pull`. */
export const PULL_HELP = `Download a pack from a registry.

Usage: epack pull <remote> [ref] [options]

<remote> is the registry: an http(s):// URL, a file:// URL or a directory,
holding index.json. [ref] picks the pack by version (v1.2.3), release ID
(rel_...) or digest (sha256:...), like --version, --release and --digest.
Among the packs that match, the newest published one is pulled.

Options:
  --version V         Only this version
  --release ID        Only this release ID
  --digest D          Only the pack with this digest (sha256:<hex>)
  --env NAME          Only packs of this environment
  --workspace NAME    Only packs of this workspace
  -o, --output PATH   Where to write the pack; a directory (or a path ending
                      in /) gets <name>-<version>.epack inside
                      (default: ./<name>-<version>.epack)
  --force             Overwrite an existing output file
  --no-verify         Do not check the size and sha256 digest of the bytes
                      (also --verify=false; checking is on by default)
  --dry-run           Say what would be downloaded; write nothing
  --ci                Plain output: no colour, no progress bar
  --json              Print the result as JSON on stdout
  -d, --detach        Run the pull as a background job and return at once
  --timeout D         The job's time limit, such as 30m or 2h (with --detach;
                      default 24h, 0 for none)
  --jobs-dir DIR      The jobs directory (with --detach;
                      default: <project>/.epack/jobs)
  -h, --help          Show this help

Exit codes: 0 pulled, 1 failure or bad usage, 2 the download did not match
its size or digest (nothing is left at the output path).

Examples:
  epack pull https://packs.example.com/acme v1.2.0 --env prod
  epack pull ./registry --release rel_01HX7Q -o packs/
  epack pull ./registry --detach`;

/**
 * Parses the arguments of `epack pull` (after the word `pull`). For any
 * options, `parsePullArgs([remote, ...buildPullFlags(options)]).options`
 * gives the options back (in their canonical form).
 *
 * @param args The arguments.
 * @returns The command.
 * @throws {CliError} A usage error for anything it cannot accept.
 */
export function parsePullArgs(args: readonly string[]): PullCommand {
  const { values, positionals } = parseFlags(args, PULL_FLAGS, {
    command: "pull",
  });
  const flag = (name: string): string | undefined => {
    const v = values[name];
    return typeof v === "string" && v !== "" ? v : undefined;
  };
  const command: PullCommand = {
    help: values.help === true,
    remote: "",
    options: {},
    detach: values.detach === true,
    dryRun: values["dry-run"] === true,
    ci: values.ci === true,
    json: values.json === true,
  };
  if (command.help) return command;

  const options: PullOptions = {};
  const set = <K extends keyof PullOptions>(
    key: K,
    value: PullOptions[K] | undefined,
  ) => {
    if (value !== undefined) options[key] = value;
  };
  set("env", flag("env"));
  set("workspace", flag("workspace"));
  set("output", flag("output"));
  set("digest", flag("digest"));
  set("releaseId", flag("release"));
  set("version", flag("version"));
  if (values.force === true) options.force = true;
  if (values.verify === false) options.verify = false;

  if (positionals.length === 0) {
    throw usageError("Missing <remote>: the registry to pull from", "pull");
  }
  if (positionals.length > 2) {
    throw usageError(
      `Unexpected argument: ${JSON.stringify(positionals[2])}`,
      "pull",
    );
  }
  const [remote, ref] = positionals;
  if (remote === "") throw usageError("<remote> is empty", "pull");
  command.remote = remote;

  if (ref !== undefined && ref !== "") {
    const [key, flagName] = ref.toLowerCase().startsWith("sha256:")
      ? ["digest", "--digest"] as const
      : ref.startsWith("rel_")
      ? ["releaseId", "--release"] as const
      : ["version", "--version"] as const;
    const given = options[key];
    if (given !== undefined && given !== ref) {
      throw usageError(
        `[ref] ${JSON.stringify(ref)} conflicts with ${flagName} ${
          JSON.stringify(given)
        }`,
        "pull",
      );
    }
    options[key] = ref;
  }
  if (options.digest !== undefined && !isDigest(options.digest)) {
    throw usageError(
      `Invalid digest ${
        JSON.stringify(options.digest)
      }: use sha256: followed by 64 hex digits`,
      "pull",
    );
  }
  command.options = options;

  const jobsDir = flag("jobs-dir");
  if (jobsDir !== undefined) command.jobsDir = jobsDir;
  const timeout = values.timeout;
  if (typeof timeout === "string") {
    if (!command.detach) {
      throw usageError("--timeout applies to a job: add --detach", "pull");
    }
    try {
      command.timeout = parseDuration(timeout);
    } catch (err) {
      throw usageError(`--timeout: ${(err as Error).message}`, "pull");
    }
  }
  if (command.detach && command.dryRun) {
    throw usageError("--dry-run cannot be combined with --detach", "pull");
  }
  return command;
}

/** A pull interrupted by a signal; main() re-raises the signal. */
export class InterruptedError extends CliError {
  /** The signal that interrupted the pull. */
  readonly signal: Deno.Signal;
  /**
   * Makes the error.
   * @param signal The signal.
   * @param message What was interrupted.
   */
  constructor(signal: Deno.Signal, message: string) {
    super(message, { exitCode: 128 + (SIGNAL_NUMBERS[signal] ?? 0) });
    this.signal = signal;
  }
}

const SIGNAL_NUMBERS: Partial<Record<Deno.Signal, number>> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGTERM: 15,
};

/**
 * Runs `epack pull`.
 *
 * Requires `--allow-read`, `--allow-write`, `--allow-net` (HTTP registries)
 * and, with `--detach`, `--allow-run` and `--allow-env`.
 *
 * @param args The arguments after `pull`.
 * @returns The exit code.
 * @throws {CliError} For every failure, with its exit code.
 */
export async function pullCommand(args: readonly string[]): Promise<number> {
  const command = parsePullArgs(args);
  if (command.help) {
    console.log(PULL_HELP);
    return EXIT.OK;
  }
  return command.detach ? await detachPull(command) : await pull(command);
}

async function detachPull(command: PullCommand): Promise<number> {
  const cwd = Deno.cwd();
  const options = { ...command.options };
  const source = registrySource(command.remote);
  if (source.kind === "file") {
    // The job would only fail later, in its log, for want of a registry.
    await Deno.stat(source.indexPath).catch((err) => {
      throw new CliError(
        `No registry at ${command.remote}: ${source.indexPath} ${
          err instanceof Deno.errors.NotFound ? "does not exist" : describe(err)
        }`,
      );
    });
  }
  // The job runs in the project's directory, which need not be this one.
  const remote = source.kind === "file" && !/^file:/i.test(command.remote)
    ? resolve(cwd, command.remote)
    : command.remote;
  const workingDir = findWorkingDir(cwd);
  if (options.output !== undefined) {
    const slash = options.output.endsWith("/") ? sep : "";
    options.output = resolve(cwd, options.output) + slash;
    if (!options.force && slash === "") await refuseExisting(options.output);
  } else if (workingDir !== resolve(cwd)) {
    options.output = resolve(cwd) + sep;
  }
  const jobsDir = command.jobsDir !== undefined
    ? resolve(cwd, command.jobsDir)
    : defaultJobsDir(workingDir);
  return await startJob({
    command: "pull",
    args: [remote],
    flags: buildPullFlags(options),
    jobsDir,
    jobsDirGiven: command.jobsDir !== undefined,
    workingDir,
    json: command.json,
    ...(command.timeout !== undefined ? { timeout: command.timeout } : {}),
  });
}

async function pull(command: PullCommand): Promise<number> {
  const { options } = command;
  const controller = new AbortController();
  let caught: Deno.Signal | undefined;
  const handlers = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((sig) => {
    const handler = () => {
      caught ??= sig;
      controller.abort(new InterruptedError(sig, `Pull interrupted (${sig})`));
    };
    Deno.addSignalListener(sig, handler);
    return [sig, handler] as const;
  });
  const color = !command.ci && !command.json && colorEnabled(Deno.stdout);
  try {
    const source = registrySource(command.remote);
    const entries = await loadIndex(source, { signal: controller.signal });
    let entry: PackEntry;
    try {
      entry = selectPack(entries, {
        version: options.version,
        releaseId: options.releaseId,
        digest: options.digest,
        env: options.env,
        workspace: options.workspace,
      }, command.remote);
    } catch (err) {
      if (err instanceof NoMatchError) throw noMatch(err);
      throw err;
    }
    const location = await resolveLocation(source, entry);
    const output = await outputPath(options.output, entry);
    if (!options.force) await refuseExisting(output);
    const verify = options.verify !== false;
    const label = `${entry.name} ${entry.version}`;

    if (command.dryRun) {
      if (command.json) {
        console.log(JSON.stringify(result(entry, location, output, {
          dryRun: true,
          verified: false,
        })));
      } else {
        console.log(
          `Would pull ${label}${
            describeEntry(entry)
          } from ${location.display} to ${output}${
            entry.size === undefined ? "" : ` (${formatBytes(entry.size)})`
          }`,
        );
      }
      return EXIT.OK;
    }

    console.error(
      `Pulling ${label}${describeEntry(entry)} from ${location.display}`,
    );
    const progress = new Progress({
      label,
      ...(entry.size !== undefined ? { total: entry.size } : {}),
      style: !command.ci && Deno.stderr.isTerminal() ? "bar" : "lines",
      sink: Deno.stderr,
      columns: terminalColumns(),
    });
    let bytes: number;
    try {
      bytes = await download(location, output, {
        entry,
        verify,
        force: options.force === true,
        signal: controller.signal,
        progress,
      });
    } catch (err) {
      progress.abandon();
      throw err;
    }
    if (command.json) {
      console.log(JSON.stringify(result(entry, location, output, {
        dryRun: false,
        verified: verify,
        bytes,
      })));
    } else {
      console.log(
        `${paint(color, 32, "Pulled")} ${label} to ${output} (${
          formatBytes(bytes)
        }, ${verify ? "sha256 verified" : "not verified"})`,
      );
    }
    return EXIT.OK;
  } catch (err) {
    if (caught !== undefined) {
      throw new InterruptedError(
        caught,
        `Pull interrupted by ${caught}; nothing was written`,
      );
    }
    if (err instanceof RegistryError) {
      throw new CliError(err.message, { cause: err });
    }
    throw err;
  } finally {
    for (const [sig, handler] of handlers) {
      Deno.removeSignalListener(sig, handler);
    }
  }
}

function registrySource(remote: string) {
  try {
    return parseRemote(remote);
  } catch (err) {
    if (err instanceof RegistryError) throw usageError(err.message, "pull");
    throw err;
  }
}

function describeEntry(entry: PackEntry): string {
  const parts = [
    entry.environment && `env ${entry.environment}`,
    entry.workspace && `workspace ${entry.workspace}`,
    entry.release && `release ${entry.release}`,
  ].filter(Boolean);
  return parts.length > 0 ? ` (${parts.join(", ")})` : "";
}

function result(
  entry: PackEntry,
  location: PackLocation,
  output: string,
  extra: { dryRun: boolean; verified: boolean; bytes?: number },
): Record<string, unknown> {
  return {
    name: entry.name,
    version: entry.version,
    environment: entry.environment,
    workspace: entry.workspace,
    release: entry.release,
    digest: entry.digest,
    size: extra.bytes ?? entry.size ?? null,
    publishedAt: entry.publishedAt,
    source: location.kind === "http" ? location.url.href : location.path,
    output,
    verified: extra.verified,
    dryRun: extra.dryRun,
  };
}

function noMatch(err: NoMatchError): DetailedError {
  const shown = err.available.slice(0, 20);
  const detail = shown.length === 0 ? [] : [
    "Available packs, newest first:",
    ...table([
      ["NAME", "VERSION", "ENV", "WORKSPACE", "RELEASE", "PUBLISHED"],
      ...shown.map((e) => [
        e.name,
        e.version,
        e.environment || "-",
        e.workspace || "-",
        e.release || "-",
        e.publishedAt,
      ]),
    ]).map((line) => `  ${line}`),
  ];
  if (err.available.length > shown.length) {
    detail.push(`  … and ${err.available.length - shown.length} more`);
  }
  return new DetailedError(err.message, detail, {
    available: err.available.map((e) => ({
      name: e.name,
      version: e.version,
      environment: e.environment,
      workspace: e.workspace,
      release: e.release,
      digest: e.digest,
      publishedAt: e.publishedAt,
    })),
  });
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, c) =>
    Math.max(...rows.map((r) => r[c].length))
  );
  return rows.map((r) =>
    r.map((cell, c) => c === r.length - 1 ? cell : cell.padEnd(widths[c]))
      .join("  ")
  );
}

function terminalColumns(): number {
  try {
    return Deno.consoleSize().columns;
  } catch {
    return 80;
  }
}

/**
 * The output file: `-o` as given (made absolute), or
 * `<name>-<version>.epack` in the current directory or in the directory `-o`
 * names (an existing directory, or any path ending in `/`).
 */
async function outputPath(
  given: string | undefined,
  entry: PackEntry,
): Promise<string> {
  const fileName = `${entry.name}-${entry.version}.epack`;
  const cwd = Deno.cwd();
  if (given === undefined) return join(cwd, fileName);
  const path = resolve(cwd, given);
  const isDir = given.endsWith("/") ||
    await Deno.stat(path).then((s) => s.isDirectory, () => false);
  const output = isDir ? join(path, fileName) : path;
  const dir = dirname(output);
  const info = await Deno.stat(dir).catch((err) => {
    throw new CliError(
      `Cannot write to ${dir}: ${
        err instanceof Deno.errors.NotFound
          ? "the directory does not exist"
          : describe(err)
      }`,
    );
  });
  if (!info.isDirectory) {
    throw new CliError(`Cannot write to ${dir}: not a directory`);
  }
  return output;
}

async function refuseExisting(output: string): Promise<void> {
  try {
    await Deno.lstat(output);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw new CliError(`Cannot check ${output}: ${describe(err)}`);
  }
  throw new CliError(`${output} already exists (use --force to overwrite it)`);
}

interface DownloadOptions {
  entry: PackEntry;
  verify: boolean;
  force: boolean;
  signal: AbortSignal;
  progress: Progress;
}

/**
 * Streams a pack into a temp file beside the output, hashing as it goes,
 * checks it, and moves it into place. On any failure the temp file is
 * removed and the output path is untouched.
 */
async function download(
  location: PackLocation,
  output: string,
  options: DownloadOptions,
): Promise<number> {
  const { entry, verify, signal, progress } = options;
  const temp = join(
    dirname(output),
    `.${basename(output)}.${crypto.randomUUID().slice(0, 8)}.part`,
  );
  let file: Deno.FsFile;
  try {
    file = await Deno.open(temp, { write: true, createNew: true, mode: 0o644 });
  } catch (err) {
    throw new CliError(`Cannot write to ${dirname(output)}: ${describe(err)}`);
  }
  let open = true;
  try {
    const body = await openBody(location, signal);
    // Loaded here, not at the top: node:crypto adds about 18 ms to the start
    // of every pull, and only a foreground download hashes.
    const { createHash } = await import("node:crypto");
    const hash = createHash("sha256");
    let bytes = 0;
    try {
      for await (const chunk of body) {
        signal.throwIfAborted();
        hash.update(chunk);
        for (let n = 0; n < chunk.length;) {
          n += await file.write(chunk.subarray(n));
        }
        bytes += chunk.length;
        if (verify && entry.size !== undefined && bytes > entry.size) {
          throw verifyError(
            `${entry.name} ${entry.version} is larger than the ${entry.size} bytes its index gives`,
          );
        }
        progress.update(bytes);
      }
    } catch (err) {
      if (signal.aborted || err instanceof CliError) throw err;
      throw new CliError(
        `Download of ${entry.name} ${entry.version} failed after ${
          formatBytes(bytes)
        }: ${describe(err)}`,
        { cause: err },
      );
    }
    signal.throwIfAborted();
    await file.syncData();
    file.close();
    open = false;
    progress.finish();
    if (verify) {
      if (entry.size !== undefined && bytes !== entry.size) {
        throw verifyError(
          `${entry.name} ${entry.version} is ${bytes} bytes, but its index gives ${entry.size}`,
        );
      }
      const digest = `sha256:${hash.digest("hex")}`;
      if (digest !== entry.digest) {
        throw verifyError(
          `${entry.name} ${entry.version} does not match its digest: expected ${entry.digest}, got ${digest}`,
        );
      }
    }
    await moveIntoPlace(temp, output, options.force);
    return bytes;
  } catch (err) {
    if (open) file.close();
    await Deno.remove(temp).catch(() => {});
    throw err;
  }
}

function verifyError(message: string): CliError {
  return new CliError(
    `Verification failed: ${message}; nothing was written`,
    { exitCode: EXIT.VERIFY },
  );
}

async function openBody(
  location: PackLocation,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  if (location.kind === "file") {
    try {
      return (await Deno.open(location.path, { read: true })).readable;
    } catch (err) {
      throw new CliError(`Cannot read ${location.path}: ${describe(err)}`);
    }
  }
  let res: Response;
  try {
    res = await fetch(location.url, { signal });
  } catch (err) {
    if (signal.aborted) throw err;
    throw new CliError(
      `Cannot download ${location.url.href}: ${describe(err)}`,
    );
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new CliError(
      `Cannot download ${location.url.href}: HTTP ${res.status} ${res.statusText}`
        .trimEnd(),
    );
  }
  return res.body;
}

/**
 * Renames the finished temp file to the output. Without `force`, a hard
 * link claims the name only if it is still free, so a file that appeared
 * during the download is not overwritten.
 */
async function moveIntoPlace(
  temp: string,
  output: string,
  force: boolean,
): Promise<void> {
  if (force) {
    await Deno.rename(temp, output);
    return;
  }
  try {
    await Deno.link(temp, output);
    await Deno.remove(temp);
    return;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new CliError(
        `${output} already exists (use --force to overwrite it)`,
      );
    }
    // A file system without hard links: check, then rename.
  }
  await refuseExisting(output);
  await Deno.rename(temp, output);
}
