// The `pull` command: parse its arguments, choose a pack from a registry,
// stream it into a temp file beside the output while hashing it, check it,
// and only then move it into place. Or, with --detach, start all that as a
// job with exactly the flags buildPullFlags() makes.

import { resolve, sep } from "node:path";
import { buildPullFlags, type PullOptions } from "../../flags.ts";
import { defaultJobsDir, findWorkingDir } from "../../detach.ts";
import { parseDuration } from "../../duration.ts";
import { signalNumber } from "../../_signals.ts";
import { CliError, DetailedError, EXIT, usageError } from "../_errors.ts";
import {
  type CliCommand,
  COMMON_FLAGS,
  type FlagSpecs,
  formatFlags,
  parseFlags,
} from "../_args.ts";
import { colorEnabled, formatTable, paint, terminalWidth } from "../_output.ts";
import { startJob } from "../_detach.ts";
import { formatBytes, Progress } from "./_progress.ts";
import { download, outputPath, refuseExisting } from "./_download.ts";
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
  version: { type: "string", value: "V", help: "Only this version" },
  release: { type: "string", value: "ID", help: "Only this release ID" },
  digest: {
    type: "string",
    value: "D",
    help: "Only the pack with this digest (sha256:<hex>)",
  },
  env: {
    type: "string",
    value: "NAME",
    help: "Only packs of this environment",
  },
  workspace: {
    type: "string",
    value: "NAME",
    help: "Only packs of this workspace",
  },
  output: {
    type: "string",
    short: "o",
    value: "PATH",
    help: "Where to write the pack; a directory (or a path ending\n" +
      "in /) gets <name>-<version>.epack inside\n" +
      "(default: ./<name>-<version>.epack)",
  },
  force: { type: "boolean", help: "Overwrite an existing output file" },
  verify: {
    type: "boolean",
    negated: true,
    help: "Do not check the size and sha256 digest of the bytes\n" +
      "(also --verify=false; checking is on by default)",
  },
  "dry-run": {
    type: "boolean",
    help: "Say what would be downloaded; write nothing",
  },
  ci: { type: "boolean", help: "Plain output: no colour, no progress bar" },
  json: { ...COMMON_FLAGS.json, help: "Print the result as JSON on stdout" },
  detach: {
    type: "boolean",
    short: "d",
    help: "Run the pull as a background job and return at once",
  },
  timeout: {
    type: "string",
    value: "D",
    help: "The job's time limit, such as 30m or 2h (with --detach;\n" +
      "default 24h, 0 for none)",
  },
  "jobs-dir": {
    ...COMMON_FLAGS["jobs-dir"],
    help: "The jobs directory (with --detach;\n" +
      "default: <project>/.epack/jobs)",
  },
  help: COMMON_FLAGS.help,
};

/** The help of `epack pull`. */
export const PULL_HELP = `Download a pack from a registry.

Usage: epack pull <remote> [ref] [options]

<remote> is the registry: an http(s):// URL, a file:// URL or a directory,
holding index.json. [ref] picks the pack by version (v1.2.3), release ID
(rel_...) or digest (sha256:...), like --version, --release and --digest.
Among the packs that match, the newest published one is pulled.

Options:
${formatFlags(PULL_FLAGS)}

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
    super(message, { exitCode: 128 + (signalNumber(signal) ?? 0) });
    this.signal = signal;
  }
}

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

/** `pull` for cli/main.ts. */
export const PULL: CliCommand = { run: pullCommand, flags: PULL_FLAGS };

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
      columns: terminalWidth(Deno.stderr) ?? 80,
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
    ...formatTable([
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
