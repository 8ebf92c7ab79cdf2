// The `pull` command in the foreground: load the registry's index, choose a
// pack, download and verify it into place, with progress and signals. Kept
// apart from pull.ts, and loaded only when a pull runs here: `pull --detach`
// needs none of it (nor the download and progress modules it brings).

import { loadIndex } from "./_index.ts";
import { signalNumber } from "../../process/signals.ts";
import { CliError, DetailedError, EXIT } from "../_errors.ts";
import {
  colorEnabled,
  formatTable,
  paint,
  safe,
  terminalWidth,
} from "../_output.ts";
import { reportProgress, reportResult } from "../../report.ts";
import type { PullCommand } from "./_parse.ts";
import { formatBytes, Progress } from "./_progress.ts";
import {
  download,
  inspectOutput,
  outputConflict,
  outputPath,
  refuseExisting,
} from "./_download.ts";
import { describe } from "../../spawn/errors.ts";
import {
  NoMatchError,
  type PackEntry,
  type PackLocation,
  RegistryError,
  type RegistrySource,
  resolveLocation,
  selectPack,
} from "./_registry.ts";

/** A pull interrupted by a signal: it exits 128+N, as a shell reports it. */
export class InterruptedError extends CliError {
  /** The signal that interrupted the pull. */
  readonly signal: Deno.Signal;
  constructor(signal: Deno.Signal, message: string) {
    super(message, { exitCode: 128 + (signalNumber(signal) ?? 0) });
    this.signal = signal;
  }
}

/**
 * Runs a pull in the foreground.
 *
 * @throws {CliError} For every failure, with its exit code.
 */
export async function pull(
  command: PullCommand,
  source: RegistrySource,
): Promise<number> {
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
    const loaded = await loadIndex(source, { signal: controller.signal });
    const { entries } = loaded;
    let entry: PackEntry;
    try {
      entry = selectPack(entries, options, command.remote);
    } catch (err) {
      if (err instanceof NoMatchError) throw noMatch(err);
      throw err;
    }
    const location = await resolveLocation(loaded.source, entry);
    const output = await outputPath(options.output, entry);
    const force = options.force === true;
    const verify = options.verify !== false;
    const label = `${entry.name} ${entry.version}`;

    if (command.dryRun) {
      // A dry run writes nothing, so what is at the output does not stop
      // it: it says what the real pull would do about it.
      const state = inspectOutput(output);
      const conflict = outputConflict(output, state, force);
      if (command.json) {
        console.log(JSON.stringify({
          ...result(entry, location, output, {
            dryRun: true,
            verified: false,
          }),
          output_exists: state.kind !== "absent",
          output_conflict: conflict ?? null,
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
    refuseExisting(output, force);

    console.error(
      safe(`Pulling ${label}${describeEntry(entry)} from ${location.display}`),
    );
    // In a job, the bytes go to its record too (throttled; a no-op
    // outside a job). The index's words are escaped, as everywhere.
    const message = [...`Pulling ${safe(label)}`].slice(0, 200).join("");
    const progress = new Progress({
      label,
      ...(entry.size !== undefined ? { total: entry.size } : {}),
      style: !command.ci && Deno.stderr.isTerminal() ? "bar" : "lines",
      sink: Deno.stderr,
      columns: terminalWidth(Deno.stderr) ?? 80,
      report: (bytes) =>
        reportProgress({
          done: bytes,
          // A pack larger than its index says is refused by the download;
          // until then the report must not claim more than 100 %.
          ...(entry.size !== undefined && bytes <= entry.size
            ? { total: entry.size }
            : {}),
          unit: "B",
          message,
        }),
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
    const pulled = result(entry, location, output, {
      dryRun: false,
      verified: verify,
      bytes,
    });
    await recordResult(pulled);
    if (command.json) {
      console.log(JSON.stringify(pulled));
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

/**
 * Records what a pull that runs as a job wrote in the job's `result` (the
 * object `--json` prints, without a password in the source URL). A result
 * that cannot be recorded is said in the log; the pack is in place anyway.
 */
async function recordResult(body: Record<string, unknown>): Promise<void> {
  const recorded = { ...body };
  if (
    typeof recorded.source === "string" && /^https?:/i.test(recorded.source)
  ) {
    const url = new URL(recorded.source);
    if (url.password !== "") url.password = "***";
    recorded.source = url.href;
  }
  try {
    await reportResult(recorded);
  } catch (err) {
    console.error(
      safe(`warning: the job's result was not recorded: ${describe(err)}`),
    );
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
    published_at: entry.publishedAt,
    source: location.kind === "http" ? location.url.href : location.path,
    output,
    verified: extra.verified,
    dry_run: extra.dryRun,
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
      published_at: e.publishedAt,
    })),
  });
}
