// The `pull` command: parse its arguments, choose a pack from a registry,
// stream it into a temp file beside the output while hashing it, check it,
// and only then move it into place. Or, with --detach, start all that as a
// job with exactly the flags buildPullFlags() makes.

import { resolve } from "../../util/path.ts";
import { buildPullFlags } from "../../flags.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import type { CliCommand } from "../_args.ts";
import {
  parsePullArgs,
  PULL_FLAGS,
  type PullCommand,
  pullHelp,
} from "./_parse.ts";
import { startJob } from "../_detach.ts";
import { chooseStore } from "../_store.ts";
import { refuseExisting } from "./_download.ts";
import { parseRemote, RegistryError } from "./_registry.ts";
import { describe } from "../../spawn/errors.ts";

/**
 * Runs `epack pull`.
 *
 * Requires `--allow-read`, `--allow-write`, `--allow-net` (HTTP registries)
 * and, with `--detach`, `--allow-run` and `--allow-env`.
 *
 * @throws {CliError} For every failure, with its exit code.
 */
export async function pullCommand(args: readonly string[]): Promise<number> {
  const command = parsePullArgs(args);
  if (command.help) {
    console.log(pullHelp());
    return EXIT.OK;
  }
  if (command.detach) return await detachPull(command);
  const source = registrySource(command.remote);
  // The foreground's modules (download, progress, reports) are loaded only
  // here: `pull --detach`, which must start fast, needs none of them.
  const { pull } = await import("./_foreground.ts");
  return await pull(command, source);
}

/** `pull` for cli/main.ts. */
export const PULL: CliCommand = { run: pullCommand, flags: PULL_FLAGS };

async function detachPull(command: PullCommand): Promise<number> {
  const cwd = Deno.cwd();
  const options = { ...command.options };
  const source = registrySource(command.remote);
  if (source.kind === "file") {
    // The job would only fail later, in its log, for want of a registry.
    // Synchronous, as the other checks before the start: an async stat
    // would only add a trip through the event loop to the start.
    try {
      Deno.statSync(source.indexPath);
    } catch (err) {
      throw new CliError(
        err instanceof Deno.errors.NotFound
          ? `No registry at ${command.remote}: ${source.indexPath} does not exist`
          : `Cannot read the registry index ${source.indexPath}: ${
            describe(err)
          }`,
      );
    }
  }
  // The job runs here, or in --cwd DIR as `cd DIR && pull` would; the
  // registry and --output are the user's paths, taken from here either way.
  const remote = source.kind === "file" && !/^file:/i.test(command.remote)
    ? resolve(cwd, command.remote)
    : command.remote;
  if (options.output !== undefined) {
    const slash = options.output.endsWith("/") ? "/" : "";
    options.output = resolve(cwd, options.output) + slash;
    // The job would only fail later, in its log. A directory gets the
    // pack inside, under a name the index gives: the job checks that one.
    const isDir = slash !== "" || isDirectory(options.output);
    if (!isDir) refuseExisting(options.output, options.force === true);
  }
  const chosen = chooseStore(command.values);
  return await startJob({
    subcommand: "pull",
    args: [remote],
    flags: buildPullFlags(options),
    store: chosen.name,
    carry: chosen.given ? { store: chosen.name } : {},
    workingDir: resolve(cwd, String(command.values.cwd ?? ".")),
    json: command.json,
    ...(command.timeout !== undefined ? { timeout: command.timeout } : {}),
    ...command.control,
  });
}

function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
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
