// Downloading a chosen pack: stream it into a temp file beside the output
// while hashing it, check size and digest, and only then move it into place,
// so the output path never holds a partial or unverified pack.

import { basename, dirname, join, resolve } from "../../util/path.ts";
import { CliError, EXIT } from "../_errors.ts";
import { formatBytes, type Progress } from "./_progress.ts";
import type { PackEntry, PackLocation } from "./_registry.ts";
import { describe } from "../../spawn/errors.ts";

/**
 * The output file: `-o` as given (made absolute), or
 * `<name>-<version>.epack` in the current directory or in the directory `-o`
 * names (an existing directory, or any path ending in `/`).
 */
export async function outputPath(
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

/**
 * What is at the output path, read with lstat (a symbolic link is not
 * followed): nothing, a regular file, or something else, in words.
 */
export type OutputState =
  | { kind: "absent" }
  | { kind: "file" }
  | { kind: "other"; what: string };

/**
 * Looks at what is at the output path now, without following a symlink.
 * Synchronous: one lstat, which `pull --detach` makes before it starts the
 * job, where a trip through the event loop would only add to the start.
 *
 * @throws {CliError} If the path cannot be looked at.
 */
export function inspectOutput(output: string): OutputState {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(output);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { kind: "absent" };
    throw new CliError(`Cannot check ${output}: ${describe(err)}`);
  }
  if (info.isFile) return { kind: "file" };
  const what = info.isSymlink
    ? "a symbolic link"
    : info.isDirectory
    ? "a directory"
    : info.isFifo
    ? "a FIFO"
    : info.isCharDevice
    ? "a character device"
    : info.isBlockDevice
    ? "a block device"
    : info.isSocket
    ? "a socket"
    : "not a regular file";
  return { kind: "other", what };
}

/**
 * Why a pull may not write the output path as it is, or undefined if it may.
 * The rule: a pull only ever creates a file or replaces a regular file (the
 * latter with `force`). Anything else (a directory, a symbolic link, a FIFO,
 * a device, a socket) is refused, `force` or not: renaming onto it would
 * replace the name, so `-o /dev/null --force` as root would put a file where
 * the device was, and a symlink would be replaced rather than written
 * through.
 */
export function outputConflict(
  output: string,
  state: OutputState,
  force: boolean,
): string | undefined {
  if (state.kind === "other") {
    return `${output} is ${state.what}; a pull only replaces a regular file`;
  }
  if (state.kind === "file" && !force) {
    return `${output} already exists (use --force to overwrite it)`;
  }
  return undefined;
}

/**
 * Refuses an output path the pull may not write (see
 * {@linkcode outputConflict}).
 *
 * @throws {CliError} Naming what is there.
 */
export function refuseExisting(output: string, force: boolean): void {
  const conflict = outputConflict(output, inspectOutput(output), force);
  if (conflict !== undefined) throw new CliError(conflict);
}

/** What {@linkcode download} needs besides where from and where to. */
export interface DownloadOptions {
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
export async function download(
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
    // An abort must end a read that waits on a silent server. fetch()'s own
    // signal does not always do it (seen in Deno 2.9.6 when node: built-ins
    // are loaded late), so the reader is cancelled here too.
    const reader = body.getReader();
    const stop = () => void reader.cancel(signal.reason).catch(() => {});
    signal.addEventListener("abort", stop, { once: true });
    try {
      for (;;) {
        const { done, value: chunk } = await reader.read();
        if (done) break;
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
      // As a for-await loop would: a download given up frees its connection.
      await reader.cancel().catch(() => {});
      if (signal.aborted || err instanceof CliError) throw err;
      throw new CliError(
        `Download of ${entry.name} ${entry.version} failed after ${
          formatBytes(bytes)
        }: ${describe(err)}`,
        { cause: err },
      );
    } finally {
      signal.removeEventListener("abort", stop);
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
    res = await fetch(location.url, {
      signal,
      ...(location.auth === undefined
        ? {}
        : { headers: { authorization: location.auth } }),
    });
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
 * Moves the finished temp file to the output: the one place a pull writes
 * the output path, so the rule of {@linkcode outputConflict} is checked
 * here, right before the rename, whatever was checked earlier.
 *
 * Without `force`, a hard link claims the name only if it is still free,
 * so nothing that appeared during the download is replaced.
 *
 * With `force`, what is there is looked at again (lstat) just before the
 * rename. Something swapped in between that look and the rename would be
 * replaced: Deno offers no `renameat2(RENAME_NOREPLACE | RENAME_EXCHANGE)`
 * to close that gap. What it would cost is bounded: a rename only drops that
 * one name from its directory, never writing into what the name held nor
 * touching its other names, and only someone who may write that directory
 * can swap a name in it, who could as well remove it.
 */
async function moveIntoPlace(
  temp: string,
  output: string,
  force: boolean,
): Promise<void> {
  if (force) {
    refuseExisting(output, true);
    await Deno.rename(temp, output);
    return;
  }
  try {
    await Deno.link(temp, output);
    await Deno.remove(temp);
    return;
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      refuseExisting(output, false);
      // Gone again since the link failed: still, never replace it.
      throw new CliError(
        `${output} already exists (use --force to overwrite it)`,
      );
    }
    // A file system without hard links: check, then rename.
  }
  refuseExisting(output, false);
  await Deno.rename(temp, output);
}
