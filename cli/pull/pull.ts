// The `pull` command: parse its arguments, choose a pack from a registry,
// stream it into a temp file beside the output while hashing it, check it,
// and only then move it into place. Or, with --detach, start all that as a
// job with exactly the flags buildPullFlags() makes.

import { loadIndex } from "./_index.ts";
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
import {
  parseRemote,
  PULL_AUTH_ENV,
  RegistryError,
  selectPack,
} from "./_registry.ts";
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
  const source = registrySource(command.remote, workerCredentials(command));
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
  const source = registrySource(command.remote, command.userinfo);
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
  const workingDir = resolve(cwd, String(command.values.cwd ?? "."));
  // The job would only fail later, in its log. A directory (the job's by
  // default) gets the pack under a name the index gives: a local index is
  // read now for it; a remote one is left to the job.
  let dir: string | undefined = workingDir;
  if (options.output !== undefined) {
    const slash = options.output.endsWith("/") ? "/" : "";
    options.output = resolve(cwd, options.output) + slash;
    const isDir = slash !== "" || isDirectory(options.output);
    if (!isDir) refuseExisting(options.output, options.force === true);
    dir = isDir ? options.output : undefined;
  }
  if (dir !== undefined && source.kind === "file") {
    const entry = await loadIndex(source)
      .then(({ entries }) => selectPack(entries, options, remote))
      .catch(() => undefined); // Said by the job, in its log.
    if (entry !== undefined) {
      const file = `${entry.name}-${entry.version}.epack`;
      refuseExisting(resolve(dir, file), options.force === true);
    }
  }
  const chosen = chooseStore(command.values);
  // The registry's credentials go to the job in a file only this user can
  // read, which the job removes once read: not on its command line, which
  // every user sees, nor in its record (a job that starts later keeps its
  // environment there).
  const env: Record<string, string> = {};
  if (command.userinfo !== undefined) {
    env[PULL_AUTH_ENV] = await Deno.makeTempFile({ prefix: "epack_pull_" });
    await Deno.chmod(env[PULL_AUTH_ENV], 0o600);
    await Deno.writeTextFile(env[PULL_AUTH_ENV], command.userinfo);
  }
  return await startJob({
    env,
    subcommand: "pull",
    args: [remote],
    flags: buildPullFlags(options),
    store: chosen.name,
    carry: chosen.given ? { store: chosen.name } : {},
    workingDir,
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

/** A detached pull's credentials, from the file its starter made. */
function workerCredentials(command: PullCommand): string | undefined {
  const file = Deno.env.get(PULL_AUTH_ENV);
  if (file === undefined) return command.userinfo;
  Deno.env.delete(PULL_AUTH_ENV);
  try {
    return Deno.readTextFileSync(file);
  } catch (err) {
    throw new CliError(
      `Cannot read the registry's credentials from ${file}: ${describe(err)}`,
    );
  } finally {
    try {
      Deno.removeSync(file);
    } catch {
      // Read once: a retry has none (said in its log, as a 401 is).
    }
  }
}

function registrySource(remote: string, userinfo?: string) {
  try {
    return parseRemote(remote, undefined, userinfo);
  } catch (err) {
    if (err instanceof RegistryError) throw usageError(err.message, "pull");
    throw err;
  }
}
