// The readers' side of the log cap's former header format: what logs.ts
// (and its tests) still import until they move to the one-mode cap of
// SPEC-logcap.md (branch `logs`), which writes no header. With the one-mode
// writer no log gets a header, so these find none. Delete this file, and
// its re-export in log_cap.ts, once no reader imports it.

const HEADER_PREFIX = "[@epack/detach] ";
const HEADER =
  /^\[@epack\/detach\] (\d+) earlier bytes were dropped to keep this log under (\d+) bytes/;
/** The longest header line a reader looks for (a padded block at most). */
const MAX_HEADER = 1024 * 1024;

/** What the header line at the top of a capped log says. */
export interface LogHeader {
  /** How many bytes of output were dropped before the first byte kept. */
  dropped: number;
  /**
   * The header's length in bytes, padding and newline included; the output
   * kept starts there.
   */
  length: number;
}

/**
 * Reads the header line at the start of `bytes` (a log's first bytes, up
 * to the header's newline), if the log has one.
 *
 * @param bytes The start of the log.
 * @returns What the header says, or `undefined` if there is none (or the
 * bytes end before its newline).
 */
export function readLogHeader(bytes: Uint8Array): LogHeader | undefined {
  // The header is ASCII: decoding byte by byte keeps it exact.
  const head = String.fromCharCode(...bytes.subarray(0, 200));
  const m = HEADER.exec(head);
  if (m === null) return undefined;
  const end = bytes.indexOf(0x0a, m[0].length);
  if (end < 0) return undefined;
  return { dropped: Number(m[1]), length: end + 1 };
}

/**
 * Reads the header of the log open as `file`, if it has one, without
 * moving what other reads of `file` see (it seeks, so callers seek after).
 *
 * @param file The log, open for reading.
 * @returns What the header says, or `undefined`.
 */
export async function headerOf(
  file: Deno.FsFile,
): Promise<LogHeader | undefined> {
  let buf = new Uint8Array(256);
  let n = await readAt(file, 0, buf);
  if (!String.fromCharCode(...buf.subarray(0, 16)).startsWith(HEADER_PREFIX)) {
    return undefined;
  }
  // A padded header is one file-system block long: read on to its newline.
  while (buf.subarray(0, n).indexOf(0x0a) < 0 && n === buf.length) {
    if (buf.length >= MAX_HEADER) return undefined;
    const more = new Uint8Array(buf.length * 4);
    more.set(buf);
    n += await readAt(file, n, more.subarray(n));
    buf = more;
  }
  return readLogHeader(buf.subarray(0, n));
}

/**
 * For a reader following a capped log by file descriptor: whether the log
 * was swapped (rewritten and renamed over, by the pipe mode) since `file`
 * was opened, and if so, the new file and where in it to go on so that no
 * byte is read twice. Call it after reading `file` to its end: a
 * swapped-out file no longer grows, so what it holds is then all read.
 *
 * @param path The log's path.
 * @param file The file being read.
 * @param pos How far `file` has been read.
 * @returns `undefined` if the log is still `file`; otherwise the new file
 * (the caller's to close), the position in it, and how many bytes between
 * the two were dropped before they could be read (0 when none).
 */
export async function followSwap(
  path: string,
  file: Deno.FsFile,
  pos: number,
): Promise<{ file: Deno.FsFile; pos: number; missed: number } | undefined> {
  let now: Deno.FileInfo;
  try {
    now = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
  if (now.ino === (await file.stat()).ino) return undefined;
  const next = await Deno.open(path, { read: true });
  try {
    const old = await headerOf(file);
    const head = await headerOf(next);
    const moved = movePosition(pos, old, head);
    return { file: next, ...moved };
  } catch (err) {
    next.close();
    throw err;
  }
}

/**
 * Where a reader at `pos` of a log whose header was `before` goes on once
 * the header is `after` (the log trimmed, in place or by a swap): the same
 * byte of output, or the first one kept if that byte was dropped, with how
 * many were dropped before they could be read.
 *
 * @param pos The position in the log as it was.
 * @param before The header then.
 * @param after The header now.
 * @returns The position now, and the bytes missed.
 */
export function movePosition(
  pos: number,
  before: LogHeader | undefined,
  after: LogHeader | undefined,
): { pos: number; missed: number } {
  const beforeLength = before?.length ?? 0;
  // A reader inside the header has read no output yet.
  const logical = (before?.dropped ?? 0) + Math.max(0, pos - beforeLength);
  const start = after?.length ?? 0;
  const at = start + logical - (after?.dropped ?? 0);
  if (at >= start) return { pos: at, missed: 0 };
  return { pos: start, missed: start - at };
}

/**
 * Fills `buf` from `offset` unless the file ends first; returns the count.
 * Also the log readers' (logs.ts) one positioned read.
 */
export async function readAt(
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
