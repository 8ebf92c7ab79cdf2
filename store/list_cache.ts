// The listing cache: `.list-cache`, beside the records of a jobs directory,
// keeps for each record whose recorded status is final the text a listing
// prints for it, so that a listing of a large directory need not read and
// parse every record again. It is only a cache: the records stay the source
// of truth, and an entry is used only while its record's file has the very
// identity (inode, size, mtime, ctime) it had when the entry was made.
//
// Why the identity is enough: every write of a record changes its ctime,
// which no one can set (utimes() sets it to now, too), and an atomic rename
// gives a new inode besides. An entry is made only for a record whose ctime
// and mtime were already MIN_AGE_MS old when it was looked at, so a write
// after that look (however soon, by whatever writer: this module, epack's Go
// code, an editor) stamps a ctime the entry does not have. Deno reports
// ctime to the second only, hence an age of two seconds. What remains: a
// system clock set back by more than that, between the look and a write that
// also keeps the size, the inode and the mtime to the millisecond; or a file
// system whose ctime does not move (none that this module supports). Inode
// numbers above 2^53 (some network and overlay file systems) come rounded
// from Deno: two files may then look alike by inode, never also by ctime.
// An entry is only ever made for an ended job, which nothing of ours
// rewrites (the log cap, progress reports and the scheduler write records of
// jobs that have not ended; a clean removes ended ones): a hit is the rule.
//
// The file: MAGIC, the texts (UTF-8, one after the other in listing order,
// so that a listing reads them in order), the job IDs (one per line), padding to 8 bytes, FIELDS numbers a job
// (Float64, native byte order), and a trailer of TRAILER_FIELDS numbers that
// declares the lengths and a checksum of the IDs and numbers. It is written
// to a temp file (one of TEMP_SLOTS names) and renamed, never fsynced: a
// torn or foreign file fails the checks (lengths, checksum, no more entries
// than twice the records, each text one JSON object, checked byte by byte
// as it is printed) and is ignored, in whole or for that text. A crafted
// file whose texts are valid JSON but not its records' is printed as it is:
// whoever can put it there can write the records themselves.

import {
  FINAL_STATUSES,
  type InvalidJobFile,
  type Job,
  JOB_STATUSES,
  type JobStatus,
} from "./job.ts";
import {
  byIdDescending,
  KEEP_TEXT_UP_TO,
  type ListedStore,
  recordOf,
  scan,
  sortInvalid,
  withLiveness,
} from "./list.ts";

/** The cache's name in a jobs directory: hidden, and not a `.json` record. */
export const CACHE_NAME = ".list-cache";

/** Set to `0` to have listings neither read nor write the cache. */
export const CACHE_ENV = "EPACK_DETACH_LIST_CACHE";

/** How old a record's ctime and mtime must be for an entry (see above). */
export const MIN_AGE_MS = 2_000;

const MAGIC = new TextEncoder().encode("epack list v1\n\0\0");
const HEAD = MAGIC.length;
/** ino, size, mtime, ctime, start, offset, length, status. */
const FIELDS = 8;
/** SENTINEL, count, textsEnd, idsLength, key, checksum, fileSize, SENTINEL. */
const TRAILER_FIELDS = 8;
const TRAILER = TRAILER_FIELDS * 8;
/** Tells a file written in the other byte order (read as garbage). */
const SENTINEL = 1.25e-7;
/** Larger files are not read: 4 GiB is far above 1,000,000 jobs. */
const MAX_BYTES = 2 ** 32;
/**
 * A text longer than this is neither kept nor taken from a file (the record
 * is read): a hostile file's lengths must not size an allocation.
 */
const MAX_TEXT = 1 << 26;
/** Job IDs are at most 64 bytes (isJobId()), each with its newline. */
const MAX_ID_BYTES = 65;
/** Texts are read from the file in reads of about this many bytes. */
const CHUNK = 1 << 20;

/** The statuses of an ended job: the only ones the cache keeps. */
const FINAL: ReadonlySet<unknown> = new Set<JobStatus>(FINAL_STATUSES);

/** What identifies a record's file, from lstat(). */
export interface RecordStat {
  ino: number;
  size: number;
  mtime: number;
  ctime: number;
}

/**
 * Whether listings use the cache: not with `EPACK_DETACH_LIST_CACHE=0` (nor
 * `false`, `off`, `no`).
 */
export function cacheEnabled(): boolean {
  let value: string | undefined;
  try {
    // Asked first: in a terminal, Deno.env.get() without the permission
    // prompts, and a listing waited on an answer about a cache.
    if (!granted({ name: "env", variable: CACHE_ENV })) return true;
    value = Deno.env.get(CACHE_ENV);
  } catch {
    return true; // No --allow-env for it: the default.
  }
  return !["0", "false", "off", "no"].includes(value?.toLowerCase() ?? "");
}

/**
 * Whether a permission is granted (a grant scoped to cover it counts): the
 * cache is never a reason for Deno to prompt (in a terminal) or refuse.
 */
function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/**
 * A record's identity, or `undefined` if it is gone or the file system
 * does not give one (then it is never cached).
 */
export function statRecord(path: string): RecordStat | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return undefined;
  }
  if (
    !info.isFile || info.ino === null || info.mtime === null ||
    info.ctime === null
  ) {
    return undefined;
  }
  return {
    ino: info.ino,
    size: info.size,
    mtime: info.mtime.getTime(),
    ctime: info.ctime.getTime(),
  };
}

/** Whether a record looked at `now` is old enough to be cached. */
export function settled(stat: RecordStat, now: number): boolean {
  return stat.mtime < now - MIN_AGE_MS && stat.ctime < now - MIN_AGE_MS;
}

/** A number for a key string (FNV-1a), kept in the trailer. */
export function keyHash(key: string): number {
  return hashString(key);
}

function checksum(ids: Uint8Array, numbers: Float64Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < ids.length; i++) h = Math.imul(h ^ ids[i], 16777619);
  const words = new Uint32Array(
    numbers.buffer,
    numbers.byteOffset,
    numbers.length * 2,
  );
  for (let i = 0; i < words.length; i++) {
    h = Math.imul(h ^ words[i], 16777619);
  }
  return h >>> 0;
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

function readFully(file: Deno.FsFile, at: number, into: Uint8Array): boolean {
  file.seekSync(at, Deno.SeekMode.Start);
  for (let done = 0; done < into.length;) {
    const n = file.readSync(into.subarray(done));
    if (n === null || n === 0) return false;
    done += n;
  }
  return true;
}

/**
 * Opens a cache file without ever blocking on it or following it: only a
 * regular file, checked before and after the open (the same inode), opened
 * read-write where it can be, since opening a FIFO that way does not wait
 * for a writer. A file that is not ours to write (a read-only directory or
 * file system) is opened read-only: there, no one can put a FIFO in its
 * place between the look and the open.
 */
function openRegular(
  path: string,
  writable: boolean,
): Deno.FsFile | undefined {
  let before: Deno.FileInfo;
  try {
    before = Deno.lstatSync(path);
  } catch {
    return undefined;
  }
  if (!before.isFile || before.size > MAX_BYTES) return undefined;
  let file: Deno.FsFile;
  try {
    // Without --allow-write, read-only (asking would prompt): a FIFO swapped
    // in between the look and the open would then block it, as it would a
    // read of a record swapped for one after scan() looked (the same race,
    // open to the same people: those who may write the directory).
    file = Deno.openSync(path, { read: true, write: writable });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    try {
      file = Deno.openSync(path, { read: true });
    } catch {
      return undefined;
    }
  }
  try {
    const after = file.statSync();
    if (after.isFile && after.ino === before.ino) return file;
  } catch {
    // Not to be read.
  }
  file.close();
  return undefined;
}

/**
 * The entries' IDs, found by a hash table over the IDs' bytes as the file
 * holds them (job IDs are ASCII): a Map of 100,000 strings made VmHWM at
 * 100,000 jobs 20-odd MiB higher, and took longer to build.
 */
class IdIndex {
  #ids: Uint8Array;
  #starts: Uint32Array;
  #table: Int32Array;

  private constructor(ids: Uint8Array, starts: Uint32Array, table: Int32Array) {
    this.#ids = ids;
    this.#starts = starts;
    this.#table = table;
  }

  /** The index of `count` IDs, one a line; `undefined` if they are not. */
  static of(ids: Uint8Array, count: number): IdIndex | undefined {
    const starts = new Uint32Array(count + 1);
    let n = 0;
    for (let at = 0; at < ids.length; at++) {
      if (ids[at] === NEWLINE) {
        if (++n > count - 1) return undefined;
        starts[n] = at + 1;
      }
    }
    if (count > 0 ? n !== count - 1 : ids.length !== 0) return undefined;
    // One past the last ID, as if a newline followed it.
    starts[count] = ids.length + 1;
    let size = 1024;
    while (size < count * 2) size *= 2;
    const table = new Int32Array(size).fill(-1);
    const mask = size - 1;
    for (let i = 0; i < count; i++) {
      let slot = hashBytes(ids, starts[i], starts[i + 1] - 1) & mask;
      while (table[slot] >= 0) slot = (slot + 1) & mask;
      table[slot] = i;
    }
    return new IdIndex(ids, starts, table);
  }

  /** The entry of `id`, or -1. */
  get(id: string): number {
    const mask = this.#table.length - 1;
    for (let slot = hashString(id) & mask;; slot = (slot + 1) & mask) {
      const i = this.#table[slot];
      if (i < 0) return -1;
      if (this.#equals(i, id)) return i;
    }
  }

  #equals(i: number, id: string): boolean {
    const from = this.#starts[i];
    if (this.#starts[i + 1] - 1 - from !== id.length) return false;
    for (let k = 0; k < id.length; k++) {
      if (this.#ids[from + k] !== id.charCodeAt(k)) return false;
    }
    return true;
  }
}

const NEWLINE = 0x0a;

function hashBytes(bytes: Uint8Array, from: number, to: number): number {
  let h = 0x811c9dc5;
  for (let k = from; k < to; k++) h = Math.imul(h ^ bytes[k], 16777619);
  return h >>> 0;
}

function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < text.length; k++) {
    h = Math.imul(h ^ text.charCodeAt(k), 16777619);
  }
  return h >>> 0;
}

/**
 * A cache file, open: its entries' numbers and IDs in memory, its texts read
 * through the one open file (a cache replaced meanwhile is not mixed in) in
 * reads of about CHUNK bytes, ahead in listing order.
 */
export class ListCache {
  #file: Deno.FsFile;
  #numbers: Float64Array;
  #index: IdIndex;
  #textsEnd: number;
  #buffer = new Uint8Array(CHUNK);
  #window = new Uint8Array(0);
  #windowAt = 0;

  private constructor(
    file: Deno.FsFile,
    numbers: Float64Array,
    index: IdIndex,
    textsEnd: number,
  ) {
    this.#file = file;
    this.#numbers = numbers;
    this.#index = index;
    this.#textsEnd = textsEnd;
  }

  /**
   * The cache of a jobs directory, if there is one that is whole and was
   * made under `key`; `undefined` otherwise (never an error). A cache of
   * more than `most` entries is not read: its size is what its trailer
   * says, and a sparse file of 4 GiB that claimed 67 million entries had a
   * listing of 100 jobs read 4 GiB into memory, for 49 s.
   */
  static open(
    dir: string,
    key: number,
    most = Number.MAX_SAFE_INTEGER,
  ): ListCache | undefined {
    const path = `${dir}/${CACHE_NAME}`;
    const file = openRegular(path, granted({ name: "write", path }));
    if (file === undefined) return undefined;
    try {
      const cache = ListCache.#load(file, key, most);
      if (cache !== undefined) return cache;
    } catch {
      // Unreadable: as if absent.
    }
    file.close();
    return undefined;
  }

  static #load(
    file: Deno.FsFile,
    key: number,
    most: number,
  ): ListCache | undefined {
    const size = file.statSync().size;
    if (size < HEAD + TRAILER || size > MAX_BYTES) return undefined;
    const magic = new Uint8Array(HEAD);
    if (!readFully(file, 0, magic)) return undefined;
    if (magic.some((b, i) => b !== MAGIC[i])) return undefined;
    const trailer = new Float64Array(TRAILER_FIELDS);
    if (!readFully(file, size - TRAILER, new Uint8Array(trailer.buffer))) {
      return undefined;
    }
    const [s1, count, textsEnd, idsLength, k, sum, fileSize, s2] = trailer;
    const numbersAt = align8(textsEnd + idsLength);
    if (
      s1 !== SENTINEL || s2 !== SENTINEL || k !== key || fileSize !== size ||
      !Number.isSafeInteger(count) || count < 0 || count > most ||
      !Number.isSafeInteger(textsEnd) || textsEnd < HEAD ||
      !Number.isSafeInteger(idsLength) || idsLength < 0 ||
      idsLength > count * MAX_ID_BYTES ||
      numbersAt + count * FIELDS * 8 + TRAILER !== size
    ) {
      return undefined;
    }
    const ids = new Uint8Array(idsLength);
    const numbers = new Float64Array(count * FIELDS);
    if (
      !readFully(file, textsEnd, ids) ||
      !readFully(file, numbersAt, new Uint8Array(numbers.buffer))
    ) {
      return undefined;
    }
    if (checksum(ids, numbers) !== sum) return undefined;
    const index = IdIndex.of(ids, count);
    if (index === undefined) return undefined;
    return new ListCache(file, numbers, index, textsEnd);
  }

  /** How many entries the cache has. */
  get size(): number {
    return this.#numbers.length / FIELDS;
  }

  /**
   * The entry of a record whose file has this identity, or -1: none, or
   * one made for another version of the file.
   */
  find(id: string, stat: RecordStat | undefined): number {
    if (stat === undefined) return -1;
    const i = this.#index.get(id);
    if (i < 0) return -1;
    const n = this.#numbers;
    const at = i * FIELDS;
    if (
      n[at] !== stat.ino || n[at + 1] !== stat.size ||
      n[at + 2] !== stat.mtime || n[at + 3] !== stat.ctime
    ) {
      return -1;
    }
    const status = JOB_STATUSES[n[at + 7]];
    // Only ended jobs are ever written; anything else is not ours.
    return status === undefined || !FINAL.has(status) ? -1 : i;
  }

  /** The entry's sort key: its record's start, in ms. */
  start(i: number): number {
    return this.#numbers[i * FIELDS + 4];
  }

  /** The entry's recorded status. */
  status(i: number): JobStatus {
    return JOB_STATUSES[this.#numbers[i * FIELDS + 7]];
  }

  /**
   * The entry's text, or `undefined` if what the file holds there is not a
   * JSON object (a torn or hostile file): the caller then reads the record.
   * The bytes are
   * valid until the next call.
   */
  text(i: number): Uint8Array | undefined {
    const at = this.#numbers[i * FIELDS + 5];
    const length = this.#numbers[i * FIELDS + 6];
    if (
      !Number.isSafeInteger(at) || !Number.isSafeInteger(length) ||
      at < HEAD || length < 2 || length > MAX_TEXT ||
      at + length > this.#textsEnd
    ) {
      return undefined;
    }
    const from = at - this.#windowAt;
    let bytes: Uint8Array;
    if (from >= 0 && from + length <= this.#window.length) {
      bytes = this.#window.subarray(from, from + length);
    } else {
      // One buffer, reused: a new one a read left 100,000 jobs' worth of
      // them for the garbage collector (VmHWM 181 MiB at 100,000 jobs).
      if (this.#buffer.length < length) this.#buffer = new Uint8Array(length);
      const window = this.#buffer.subarray(
        0,
        Math.min(this.#buffer.length, this.#textsEnd - at),
      );
      this.#window = new Uint8Array(0);
      try {
        if (!readFully(this.#file, at, window)) return undefined;
      } catch {
        return undefined;
      }
      this.#window = window;
      this.#windowAt = at;
      bytes = window.subarray(0, length);
    }
    // Checked in full: the texts are not in the checksum, and a torn or
    // hostile file may hold anything there, which printed as it is could
    // end the document early or leave it invalid. A `{...}` test let
    // `{ x }` and `{"a": 1}], "b": [{}` through.
    return isJsonObject(bytes) ? bytes : undefined;
  }

  /** Closes the file. */
  close(): void {
    this.#file.close();
  }
}

/**
 * A new cache being written, entry by entry in listing order, to a temp
 * file (`.list-cache.<slot>.tmp`, see TEMP_SLOTS) that commit() renames
 * into place. Any failure (a read-only directory, a full disk) leaves things as
 * they were: a cache is never a reason for a listing to fail.
 */
export class ListCacheWriter {
  #dir: string;
  #temp: string;
  #file: Deno.FsFile;
  #key: number;
  #buffer = new Uint8Array(CHUNK);
  #buffered = 0;
  #written = HEAD;
  #ids: string[] = [];
  #numbers = new Float64Array(FIELDS * 1024);
  #failed = false;
  /** The temp file's inode, taken when it was made. */
  #ino: number | null;

  private constructor(
    dir: string,
    temp: string,
    file: Deno.FsFile,
    key: number,
  ) {
    this.#dir = dir;
    this.#temp = temp;
    this.#file = file;
    this.#key = key;
    this.#ino = file.statSync().ino;
    this.#buffer.set(MAGIC);
    this.#buffered = HEAD;
  }

  /**
   * A writer for `dir`'s cache, or `undefined` if it cannot be made (no
   * slot free, a read-only directory).
   */
  static create(dir: string, key: number): ListCacheWriter | undefined {
    // Not asked for: in a terminal, Deno would prompt, and wait.
    if (!granted({ name: "write", path: dir })) return undefined;
    const now = Date.now();
    let writer: ListCacheWriter | undefined;
    // Every slot is looked at, so that each dead writer's temp goes.
    for (let slot = 0; slot < TEMP_SLOTS; slot++) {
      const temp = `${dir}/${CACHE_NAME}.${slot}.tmp`;
      if (writer !== undefined) {
        removeIfStale(temp, now);
        continue;
      }
      const file = createTemp(temp, now);
      if (file === null) return undefined;
      if (file === undefined) continue;
      try {
        writer = new ListCacheWriter(dir, temp, file, key);
      } catch {
        file.close();
        Deno.removeSync(temp);
        return undefined;
      }
    }
    return writer;
  }

  /** Adds an entry: a final job's record identity, start, status and text. */
  add(
    id: string,
    stat: RecordStat,
    start: number,
    status: JobStatus,
    text: Uint8Array,
  ): void {
    // Never taken from the file (see MAX_TEXT): the record is read.
    if (this.#failed || text.length > MAX_TEXT) return;
    try {
      this.#add(id, stat, start, status, text);
    } catch {
      // A full disk, say: no cache this time.
      this.#failed = true;
      this.abort();
    }
  }

  #add(
    id: string,
    stat: RecordStat,
    start: number,
    status: JobStatus,
    text: Uint8Array,
  ): void {
    const i = this.#ids.length;
    if ((i + 1) * FIELDS > this.#numbers.length) {
      const grown = new Float64Array(this.#numbers.length * 2);
      grown.set(this.#numbers);
      this.#numbers = grown;
    }
    const at = i * FIELDS;
    const n = this.#numbers;
    n[at] = stat.ino;
    n[at + 1] = stat.size;
    n[at + 2] = stat.mtime;
    n[at + 3] = stat.ctime;
    n[at + 4] = start;
    n[at + 5] = this.#written;
    n[at + 6] = text.length;
    n[at + 7] = JOB_STATUSES.indexOf(status);
    this.#ids.push(id);
    this.#append(text);
  }

  #append(bytes: Uint8Array): void {
    if (this.#buffered + bytes.length > this.#buffer.length) this.#flush();
    if (bytes.length > this.#buffer.length) {
      this.#writeAll(bytes);
    } else {
      this.#buffer.set(bytes, this.#buffered);
      this.#buffered += bytes.length;
    }
    this.#written += bytes.length;
  }

  #flush(): void {
    this.#writeAll(this.#buffer.subarray(0, this.#buffered));
    this.#buffered = 0;
  }

  #writeAll(bytes: Uint8Array): void {
    for (let done = 0; done < bytes.length;) {
      done += this.#file.writeSync(bytes.subarray(done));
    }
  }

  /**
   * Writes the IDs, numbers and trailer and renames the file into place.
   * Returns whether it did; on failure, the temp file is removed.
   */
  commit(): boolean {
    if (this.#failed) return false;
    try {
      const textsEnd = this.#written;
      const ids = new TextEncoder().encode(this.#ids.join("\n"));
      const count = this.#ids.length;
      const pad = align8(textsEnd + ids.length) - (textsEnd + ids.length);
      const numbers = this.#numbers.subarray(0, count * FIELDS);
      const size = textsEnd + ids.length + pad + numbers.byteLength + TRAILER;
      const trailer = new Float64Array([
        SENTINEL,
        count,
        textsEnd,
        ids.length,
        this.#key,
        checksum(ids, numbers),
        size,
        SENTINEL,
      ]);
      this.#flush();
      this.#writeAll(ids);
      this.#writeAll(new Uint8Array(pad));
      this.#writeAll(
        new Uint8Array(numbers.buffer, numbers.byteOffset, numbers.byteLength),
      );
      this.#writeAll(new Uint8Array(trailer.buffer));
      // A writer taken for dead (see STALE_TEMP_MS) may have lost its temp
      // to another, still writing: its file is not to be renamed.
      if (!this.#ours()) throw new Error("temp file taken");
      this.#file.close();
      Deno.renameSync(this.#temp, `${this.#dir}/${CACHE_NAME}`);
      return true;
    } catch {
      this.abort();
      return false;
    }
  }

  /** Gives up: the temp file goes (if still ours), the cache stays. */
  abort(): void {
    const ours = this.#ours();
    try {
      this.#file.close();
    } catch {
      // Already closed.
    }
    if (!ours) return;
    try {
      Deno.removeSync(this.#temp);
    } catch {
      // Already gone.
    }
  }

  /** Whether the temp file's name still names the file this writes. */
  #ours(): boolean {
    try {
      return Deno.lstatSync(this.#temp).ino === this.#ino;
    } catch {
      return false;
    }
  }
}

/**
 * The temp files' names: `.list-cache.<slot>.tmp` (hidden, and `.tmp`, which
 * the store's clean removes after an hour). A listing killed while it
 * writes (SIGTERM, a `timeout`) leaves its temp behind, as large as the
 * cache: with a random name each, a listing run under `timeout` every
 * minute on a large directory left one more each time. With a few fixed
 * names, the next writers take a dead one's name back, and there are never
 * more of them.
 */
const TEMP_SLOTS = 4;

/**
 * A temp file not written for this long is taken for a dead writer's. A
 * living one (blocked on its output as long, say) then finds its name
 * taken and does not commit: nothing worse.
 */
const STALE_TEMP_MS = 10 * 60 * 1000;

/**
 * A new temp file at `path`: the file; `undefined` if a writer that seems
 * alive has it; `null` if no temp file can be made (a read-only directory).
 */
function createTemp(path: string, now: number): Deno.FsFile | undefined | null {
  for (let attempt = 0;; attempt++) {
    try {
      return Deno.openSync(path, { write: true, createNew: true, mode: 0o600 });
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) return null;
      if (attempt > 0) return undefined;
    }
    if (!removeIfStale(path, now)) return undefined;
  }
}

/** Removes a dead writer's temp file; whether there is none now. */
function removeIfStale(path: string, now: number): boolean {
  try {
    const mtime = Deno.lstatSync(path).mtime?.getTime() ?? now;
    // A time ahead of now (a clock set back) is not a living writer's.
    if (Math.abs(now - mtime) < STALE_TEMP_MS) return false;
    Deno.removeSync(path);
    return true;
  } catch (err) {
    return err instanceof Deno.errors.NotFound;
  }
}

/**
 * How a listing turns jobs into text, for {@linkcode streamJobTexts}: the
 * text of a job whose recorded status is final must be a function of its
 * record alone, for the listing cache keeps it.
 */
export interface ListingText {
  /** Whether the listing shows jobs in this status. */
  wants(status: JobStatus): boolean;
  /** Takes the next job shown, read now (a job that has not ended, say). */
  job(job: Job): void | Promise<void>;
  /**
   * The text of an ended job, as the listing shows it, in UTF-8; the bytes
   * need only last until the next call.
   */
  text(job: Job): Uint8Array;
  /**
   * Takes the text of the next job shown: text() of it, now or before. The
   * bytes are valid only during the call.
   */
  put(text: Uint8Array): void | Promise<void>;
  /**
   * Names the way text() renders (its version): a cache made under another
   * key is ignored, and replaced.
   */
  key: string;
  /** Whether to use the listing cache. */
  cache: boolean;
}

/**
 * streamJobs() (_list.ts) for a listing printed as text: the jobs whose
 * recorded status is final come from the directory's listing cache
 * (_list_cache.ts) when their records are as they were when it was written,
 * without being read; the others are read as streamJobs() reads them. A
 * listing that read more of those than CACHE_SLACK allows writes a new
 * cache, as it goes. The output is the same with the cache or without.
 *
 * @returns The files that failed to load, by ID.
 */
export async function streamJobTexts(
  store: ListedStore,
  listing: ListingText,
): Promise<InvalidJobFile[]> {
  return await stream(store, listing);
}

/**
 * Entries read from records rather than the cache, as a share of the
 * cache's size, above which a listing writes the cache again (with at least
 * CACHE_MIN_NEW of them): a few new jobs do not rewrite a large cache each
 * time, and removed records' entries go at the next write.
 */
const CACHE_SLACK = 1 / 8;
const CACHE_MIN_NEW = 64;

async function stream(
  store: ListedStore,
  sink: ListingText,
): Promise<InvalidJobFile[]> {
  const now = Date.now();
  const key = sink.cache ? keyHash(sink.key) : -1;
  const { ids, invalid } = await scan(store);
  // A cache of many more entries than there are records would be written
  // again anyway (most of it stale): not worth reading, nor sure to be ours.
  const cache = key < 0
    ? undefined
    : ListCache.open(store.dir, key, ids.length * 2 + CACHE_MIN_NEW);
  try {
    const starts = new Float64Array(ids.length);
    // Per record: its cache entry, or -1.
    const hits = new Int32Array(ids.length).fill(-1);
    // Per record, with a cache: the identity a new entry would have
    // (ino, size, mtime, ctime), or NaN if it must not have one.
    const stats = new Float64Array(key < 0 ? 0 : ids.length * 4).fill(NaN);
    const statOf = (i: number): RecordStat | undefined =>
      Number.isNaN(stats[i * 4]) ? undefined : {
        ino: stats[i * 4],
        size: stats[i * 4 + 1],
        mtime: stats[i * 4 + 2],
        ctime: stats[i * 4 + 3],
      };
    const texts: (string | undefined)[] = new Array(ids.length);
    const keep = ids.length <= KEEP_TEXT_UP_TO;
    let hit = 0;
    let fresh = 0;
    for (let i = 0; i < ids.length; i++) {
      const path = store.recordPath(ids[i]);
      if (key >= 0) {
        // Looked at before it is read: a write between the two gives the
        // file another identity than the one an entry would be made with.
        const stat = statRecord(path);
        // An entry was made for a settled file; the same file still is.
        if (stat !== undefined && settled(stat, now)) {
          stats[i * 4] = stat.ino;
          stats[i * 4 + 1] = stat.size;
          stats[i * 4 + 2] = stat.mtime;
          stats[i * 4 + 3] = stat.ctime;
        }
        const entry = cache?.find(ids[i], stat) ?? -1;
        if (entry >= 0) {
          hits[i] = entry;
          starts[i] = cache!.start(entry);
          hit++;
          continue;
        }
      }
      let start = NaN;
      try {
        const text = Deno.readTextFileSync(path);
        if (keep) texts[i] = text;
        const raw = JSON.parse(text) as {
          started_at?: unknown;
          status?: unknown;
        };
        const started = raw?.started_at;
        if (typeof started === "string") start = Date.parse(started);
        if (
          key >= 0 && !Number.isNaN(stats[i * 4]) && FINAL.has(raw?.status)
        ) {
          fresh++;
        }
      } catch {
        // Gone, or not a record: the second pass says which.
      }
      starts[i] = Number.isNaN(start) ? -Infinity : start;
    }
    const stale = (cache?.size ?? 0) - hit;
    const writer = key >= 0 &&
        fresh + stale >= Math.max(CACHE_MIN_NEW, hit * CACHE_SLACK)
      ? ListCacheWriter.create(store.dir, key)
      : undefined;
    const order = presorted(ids.length, hits, cache?.size ?? 0).sort((a, b) =>
      starts[b] - starts[a] || byIdDescending(ids[a], ids[b])
    );
    try {
      for (let k = 0; k < order.length; k++) {
        const i = order[k];
        const entry = hits[i];
        if (entry >= 0) {
          const status = cache!.status(entry);
          const shown = sink.wants(status);
          if (!shown && writer === undefined) continue;
          const bytes = cache!.text(entry);
          if (bytes !== undefined) {
            // Its identity is the one the entry was made with.
            writer?.add(ids[i], statOf(i)!, starts[i], status, bytes);
            if (shown) await sink.put(bytes);
            continue;
          }
          // A torn cache: the record says.
        }
        const text = texts[i];
        texts[i] = undefined;
        let job = recordOf(store, ids[i], text, invalid);
        if (job === undefined) continue;
        const stat = key < 0 ? undefined : statOf(i);
        if (FINAL.has(job.status) && stat !== undefined) {
          const bytes = sink.text(job);
          writer?.add(ids[i], stat, starts[i], job.status, bytes);
          if (sink.wants(job.status)) await sink.put(bytes);
          continue;
        }
        job = await withLiveness(store, job, invalid);
        if (job !== undefined && sink.wants(job.status)) await sink.job(job);
      }
    } catch (err) {
      writer?.abort();
      throw err;
    }
    writer?.commit();
  } finally {
    cache?.close();
  }
  return sortInvalid(invalid);
}

/**
 * The records' indexes, those found in the cache first, in the cache's
 * order, which is the listing's: the sort (a merge sort that takes runs
 * as they come) then has little left to do (20 against 80 ms for 100,000
 * jobs).
 */
function presorted(count: number, hits: Int32Array, cached: number): number[] {
  const order: number[] = [];
  if (cached > 0) {
    const byEntry = new Int32Array(cached).fill(-1);
    for (let i = 0; i < count; i++) if (hits[i] >= 0) byEntry[hits[i]] = i;
    for (let e = 0; e < cached; e++) {
      if (byEntry[e] >= 0) order.push(byEntry[e]);
    }
  }
  for (let i = 0; i < count; i++) if (hits[i] < 0) order.push(i);
  return order;
}

/**
 * Whether `bytes` are one JSON object in UTF-8 (RFC 8259, whitespace around
 * it allowed), as JSON.parse would take them after a fatal UTF-8 decode,
 * without making a string or an object: about as fast as reading the bytes.
 * Nesting deeper than MAX_DEPTH is refused (the record is then read).
 */
export function isJsonObject(bytes: Uint8Array): boolean {
  let at = skipSpace(bytes, 0);
  if (bytes[at] !== 0x7b) return false;
  at = value(bytes, at, 0);
  return at >= 0 && skipSpace(bytes, at) === bytes.length;
}

const MAX_DEPTH = 512;

function skipSpace(b: Uint8Array, at: number): number {
  for (;; at++) {
    const c = b[at];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return at;
  }
}

/** The end of the value at `at` (no space before it), or -1. */
function value(b: Uint8Array, at: number, depth: number): number {
  const c = b[at];
  if (c === 0x22) return string(b, at);
  if (c === 0x7b || c === 0x5b) {
    if (depth >= MAX_DEPTH) return -1;
    const object = c === 0x7b;
    const close = object ? 0x7d : 0x5d;
    at = skipSpace(b, at + 1);
    if (b[at] === close) return at + 1;
    for (;;) {
      if (object) {
        if (b[at] !== 0x22) return -1;
        at = skipSpace(b, string(b, at));
        if (at < 0 || b[at] !== 0x3a) return -1;
        at = skipSpace(b, at + 1);
      }
      at = value(b, at, depth + 1);
      if (at < 0) return -1;
      at = skipSpace(b, at);
      if (b[at] === close) return at + 1;
      if (b[at] !== 0x2c) return -1;
      at = skipSpace(b, at + 1);
    }
  }
  if (c === 0x74) return word(b, at, TRUE);
  if (c === 0x66) return word(b, at, FALSE);
  if (c === 0x6e) return word(b, at, NULL);
  return number(b, at);
}

const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];

function word(b: Uint8Array, at: number, word: number[]): number {
  for (let k = 0; k < word.length; k++) {
    if (b[at + k] !== word[k]) return -1;
  }
  return at + word.length;
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

function digits(b: Uint8Array, at: number): number {
  if (!isDigit(b[at])) return -1;
  while (isDigit(b[at])) at++;
  return at;
}

function number(b: Uint8Array, at: number): number {
  if (b[at] === 0x2d) at++;
  if (b[at] === 0x30) at++;
  else if ((at = digits(b, at)) < 0) return -1;
  if (b[at] === 0x2e && (at = digits(b, at + 1)) < 0) return -1;
  if (b[at] === 0x65 || b[at] === 0x45) {
    at++;
    if (b[at] === 0x2b || b[at] === 0x2d) at++;
    if ((at = digits(b, at)) < 0) return -1;
  }
  return at;
}

function isHex(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** The bytes a string holds as they are: printable ASCII but `"` and `\\`. */
const PLAIN = new Uint8Array(256).fill(1, 0x20, 0x80);
PLAIN[0x22] = 0;
PLAIN[0x5c] = 0;

/** The end of the string at `at` (its quote), or -1; UTF-8 checked. */
function string(b: Uint8Array, at: number): number {
  const end = b.length;
  for (at++; at < end;) {
    // Most of a text: printable ASCII, taken a byte at a time by one test.
    while (PLAIN[b[at]] === 1) at++;
    if (at >= end) return -1;
    const c = b[at];
    if (c === 0x22) return at + 1;
    if (c < 0x20) return -1;
    if (c === 0x5c) {
      const e = b[at + 1];
      if (e === 0x75) {
        if (
          !isHex(b[at + 2]) || !isHex(b[at + 3]) || !isHex(b[at + 4]) ||
          !isHex(b[at + 5])
        ) {
          return -1;
        }
        at += 6;
      } else if (
        e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 ||
        e === 0x6e || e === 0x72 || e === 0x74
      ) {
        at += 2;
      } else {
        return -1;
      }
    } else if (c < 0x80) {
      at++;
    } else {
      at = utf8(b, at);
      if (at < 0) return -1;
    }
  }
  return -1;
}

/** The end of the UTF-8 sequence at `at` (not ASCII), or -1 if invalid. */
function utf8(b: Uint8Array, at: number): number {
  const c = b[at];
  let more: number;
  let low = 0x80;
  let high = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) {
    more = 1;
  } else if (c >= 0xe0 && c <= 0xef) {
    more = 2;
    if (c === 0xe0) low = 0xa0; // Overlong.
    if (c === 0xed) high = 0x9f; // A surrogate.
  } else if (c >= 0xf0 && c <= 0xf4) {
    more = 3;
    if (c === 0xf0) low = 0x90; // Overlong.
    if (c === 0xf4) high = 0x8f; // Above U+10FFFF.
  } else {
    return -1;
  }
  const second = b[at + 1];
  if (!(second >= low && second <= high)) return -1;
  for (let k = 2; k <= more; k++) {
    const next = b[at + k];
    if (!(next >= 0x80 && next <= 0xbf)) return -1;
  }
  return at + more + 1;
}
