// The `pull` command: parse its arguments, choose a pack from a registry,
// stream it into a temp file beside the output while hashing it, check it,
// and only then move it into place. Or, with --detach, start all that as a
// job with exactly the flags buildPullFlags() makes.

import { resolve, sep } from "../../_path.ts";
import { buildPullFlags } from "../../flags.ts";
import { defaultJobsDir, findWorkingDir } from "../../detach.ts";
import { signalNumber } from "../../_signals.ts";
import { CliError, DetailedError, EXIT, usageError } from "../_errors.ts";
import type { CliCommand } from "../_args.ts";
import {
  parsePullArgs,
  PULL_FLAGS,
  PULL_HELP,
  type PullCommand,
} from "./_parse.ts";
import {
  colorEnabled,
  formatTable,
  paint,
  safe,
  terminalWidth,
} from "../_output.ts";
import { startJob } from "../_detach.ts";
import { chooseStore } from "../_store.ts";
import { formatBytes, Progress } from "./_progress.ts";
import {
  download,
  inspectOutput,
  outputConflict,
  outputPath,
  refuseExisting,
} from "./_download.ts";
import {
  describe,
  loadIndex,
  NoMatchError,
  type PackEntry,
  type PackLocation,
  parseRemote,
  RegistryError,
  resolveLocation,
  selectPack,
} from "./_registry.ts";

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
        err instanceof Deno.errors.NotFound
          ? `No registry at ${command.remote}: ${source.indexPath} does not exist`
          : `Cannot read the registry index ${source.indexPath}: ${
            describe(err)
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
    // The job would only fail later, in its log. A directory gets the
    // pack inside, under a name the index gives: the job checks that one.
    const isDir = slash !== "" ||
      await Deno.stat(options.output).then((s) => s.isDirectory, () => false);
    if (!isDir) await refuseExisting(options.output, options.force === true);
  } else if (workingDir !== resolve(cwd)) {
    options.output = resolve(cwd) + sep;
  }
  const chosen = chooseStore(
    { store: command.store, "jobs-dir": command.jobsDir },
    () => defaultJobsDir(workingDir),
  );
  const jobsDir = chosen.shared
    ? defaultJobsDir(workingDir)
    : resolve(cwd, chosen.name);
  return await startJob({
    command: "pull",
    args: [remote],
    flags: buildPullFlags(options),
    jobsDir,
    ...(chosen.shared ? { store: chosen.name } : {}),
    storeGiven: command.store !== undefined,
    jobsDirGiven: chosen.given && !chosen.shared,
    workingDir,
    json: command.json,
    ...(command.timeout !== undefined ? { timeout: command.timeout } : {}),
    ...command.control,
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
    const { entries, source } = await loadIndex(
      registrySource(command.remote),
      { signal: controller.signal },
    );
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
    const force = options.force === true;
    const verify = options.verify !== false;
    const label = `${entry.name} ${entry.version}`;

    if (command.dryRun) {
      // A dry run writes nothing, so what is at the output does not stop
      // it: it says what the real pull would do about it.
      const state = await inspectOutput(output);
      const conflict = outputConflict(output, state, force);
      if (command.json) {
        console.log(JSON.stringify({
          ...result(entry, location, output, {
            dryRun: true,
            verified: false,
          }),
          outputExists: state.kind !== "absent",
          outputConflict: conflict ?? null,
        }));
      } else {
        // Paths and the index's words are printed escaped, as everywhere.
        console.log(safe(
          `Would pull ${label}${
            describeEntry(entry)
          } from ${location.display} to ${output}${
            entry.size === undefined ? "" : ` (${formatBytes(entry.size)})`
          }`,
        ));
        if (conflict !== undefined) {
          console.log(safe(`  but the pull would stop: ${conflict}`));
        } else if (state.kind === "file") {
          console.log(`  replacing the existing file (--force)`);
        }
      }
      return EXIT.OK;
    }
    await refuseExisting(output, force);

    console.error(
      safe(`Pulling ${label}${describeEntry(entry)} from ${location.display}`),
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
        force,
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
        `${paint(color, 32, "Pulled")} ${safe(label)} to ${safe(output)} (${
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
