// Job IDs: making them (ULIDs), checking IDs that come from outside, and
// matching what a user typed against the IDs in a jobs directory. Also the
// errors an ID lookup throws, so that every file of the store can throw them
// without importing jobs.ts (which imports this file).
//
// The ULID generator is our own (https://github.com/ulid/spec): npm's `ulid`
// resolves to its Node build in Deno, which loads node:crypto, and that cost
// every program using the module about 7-10 ms at start.

/**
 * The environment variable that holds a job's ID in its worker and every
 * process the worker starts. A job can read it to know itself; cancel() and
 * clean() use it to recognise a lost job's processes once the worker that
 * led their group is gone.
 *
 * @example Inside a job
 * ```ts
 * import { JOB_ID_ENV } from "@epack/detach/jobs";
 *
 * console.log(JOB_ID_ENV); // "EPACK_DETACH_JOB_ID"
 * ```
 */
export const JOB_ID_ENV = "EPACK_DETACH_JOB_ID";

const ID_PATTERN = /^[0-9A-Za-z_]{1,64}$/;

// Crockford's base32: no I, L, O or U.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_LEN = 10;
const RANDOM_LEN = 16;
const TIME_MAX = 2 ** 48 - 1;
// A ULID in its canonical (upper-case) spelling; the first character is at
// most 7 because the time part holds 48 bits in 50.
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/**
 * Thrown when a job ID from outside is not a valid ID. Nothing on disk is
 * touched for such an ID.
 *
 * @example Refuse an ID that would name a path
 * ```ts
 * import { InvalidJobIdError, FileJobStore } from "@epack/detach/jobs";
 *
 * try {
 *   new FileJobStore(".epack/jobs").logPath("../../../etc/passwd");
 * } catch (err) {
 *   if (!(err instanceof InvalidJobIdError)) throw err;
 *   console.log(err.id); // ../../etc/passwd
 * }
 * ```
 */
export class InvalidJobIdError extends Error {
  /** The rejected ID. */
  readonly id: string;
  /**
   * Makes the error for a rejected ID.
   * @param id The rejected ID.
   * @param reason Why it was rejected.
   */
  constructor(id: string, reason: string) {
    super(`Invalid job ID ${JSON.stringify(id)}: ${reason}`);
    this.id = id;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "InvalidJobIdError";
  }
}

/**
 * Thrown when no job has the given ID (or ID prefix).
 *
 * @example Look up a job that does not exist
 * ```ts
 * import { JobNotFoundError, FileJobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * try {
 *   await new FileJobStore(dir).load("01JD0Q2V3K5W8Y9Z0A1B2C3D4E");
 * } catch (err) {
 *   if (!(err instanceof JobNotFoundError)) throw err;
 *   console.log(err.message); // Job not found: 01JD0Q2V3K5W8Y9Z0A1B2C3D4E
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class JobNotFoundError extends Error {
  /** The ID (or reference) that was looked up. */
  readonly id: string;
  /** The store it was looked up in, when known. */
  readonly where: string | undefined;
  /**
   * Makes the error for a missing job.
   * @param id The ID (or reference) that was looked up.
   * @param options The underlying error (`cause`), the store that was
   * searched (`where`: a jobs directory, or a URL without its password),
   * and why nothing matched, when there is more to say (`reason`).
   */
  constructor(
    id: string,
    options?: ErrorOptions & { where?: string; reason?: string },
  ) {
    super(
      `Job not found: ${id}${
        options?.reason === undefined ? "" : ` (${options.reason})`
      }${options?.where === undefined ? "" : ` in ${options.where}`}`,
      options,
    );
    this.id = id;
    this.where = options?.where;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "JobNotFoundError";
  }
}

/**
 * Thrown when an ID prefix matches more than one job.
 *
 * @example Ask the user to type more of the ID
 * ```ts
 * import { AmbiguousJobIdError, FileJobStore } from "@epack/detach/jobs";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new FileJobStore(dir);
 * await store.create({ command: "sync", id: "job_a1" });
 * await store.create({ command: "sync", id: "job_a2" });
 * try {
 *   await store.resolve("job_a");
 * } catch (err) {
 *   if (!(err instanceof AmbiguousJobIdError)) throw err;
 *   console.log(err.candidates); // [ "job_a1", "job_a2" ]
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class AmbiguousJobIdError extends Error {
  /** The reference that was looked up. */
  readonly ref: string;
  /** Every job ID it matches (the message shows the first 10). */
  readonly candidates: string[];
  /**
   * Makes the error for an ambiguous reference.
   * @param ref The reference that was looked up.
   * @param candidates The IDs it matches.
   * @param how What matched: the start of each ID, or its end.
   */
  constructor(
    ref: string,
    candidates: string[],
    how: "prefix" | "suffix" = "prefix",
  ) {
    const shown = candidates.slice(0, 10).join(", ");
    const more = candidates.length > 10
      ? ` and ${candidates.length - 10} more`
      : "";
    super(
      `Ambiguous job reference ${ref}: the ${how} of ${candidates.length} jobs (${shown}${more}); give more of the ID`,
    );
    this.ref = ref;
    this.candidates = candidates;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "AmbiguousJobIdError";
  }
}

/**
 * Checks a job ID that came from outside. It must be 1 to 64 characters of
 * `A-Z`, `a-z`, `0-9` or `_` (epack's rule), so it can never name a path
 * outside the jobs directory.
 *
 * @param id The ID to check.
 * @returns The same ID.
 * @throws {InvalidJobIdError} If the ID is not valid.
 *
 * @example Reject a path traversal
 * ```ts
 * import { validateJobId } from "@epack/detach/jobs";
 *
 * validateJobId("01JD0Q2V3K5W8Y9Z0A1B2C3D4E"); // ok
 * try {
 *   validateJobId("../etc/passwd");
 * } catch (err) {
 *   console.log((err as Error).message);
 * }
 * ```
 */
export function validateJobId(id: string): string {
  if (typeof id !== "string") {
    throw new InvalidJobIdError(String(id), "not a string");
  }
  if (id.length === 0) throw new InvalidJobIdError(id, "empty");
  if (id.length > 64) {
    throw new InvalidJobIdError(id, "longer than 64 characters");
  }
  if (!ID_PATTERN.test(id)) {
    throw new InvalidJobIdError(
      id,
      "only letters, digits and underscores are allowed",
    );
  }
  return id;
}

/**
 * Tells whether a string has the form of a job ID (epack's rule), without
 * throwing.
 *
 * @param id The string to check.
 * @returns `true` if {@linkcode validateJobId} would accept it.
 */
export function isJobId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * The name under which a job ID typed in another case is stored: ULIDs are
 * case-insensitive (Crockford's base32) and are always stored in upper case.
 *
 * @param id A valid job ID.
 * @returns The upper-case ULID, or `undefined` if `id` is not a ULID in
 * another case (an ID that is not a ULID only ever matches exactly).
 */
export function ulidSpelling(id: string): string | undefined {
  const upper = id.toUpperCase();
  return upper !== id && ULID_PATTERN.test(upper) ? upper : undefined;
}

/**
 * The fewest characters a prefix or suffix must have to name a job, so that
 * a typo cannot pick a random one. A whole ID of any length always names
 * its job.
 */
export const MIN_REFERENCE_LENGTH = 4;

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/**
 * Checks a job's name: 1 to 64 characters of `A-Z`, `a-z`, `0-9`, `.`, `_`
 * and `-`, starting with a letter (so it is never a ULID, which starts with
 * a digit, nor an option, nor a path).
 *
 * @param name The name to check.
 * @returns The same name.
 * @throws {TypeError} If it is not such a name.
 */
export function checkJobName(name: string): string {
  if (typeof name !== "string" || !NAME_PATTERN.test(name)) {
    throw new TypeError(
      `Invalid job name ${
        JSON.stringify(name)
      }: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter`,
    );
  }
  return name;
}

/**
 * Checks what a user gave to name a job (an ID, a prefix or suffix of one,
 * or a job's name) before anything is looked up with it.
 *
 * @param ref The reference.
 * @returns The same reference.
 * @throws {InvalidJobIdError} If it is neither a job ID nor a name.
 */
export function validateReference(ref: string): string {
  if (typeof ref !== "string" || ref === "" || ref.length > 64) {
    return validateJobId(ref);
  }
  if (isJobReference(ref)) return ref;
  throw new InvalidJobIdError(
    ref,
    "neither an ID (letters, digits and underscores) nor a name (also '.' and '-', starting with a letter)",
  );
}

/**
 * Tells whether a string can name a job: a job ID (or a prefix or suffix of
 * one) or a name.
 *
 * @param ref The string to check.
 * @returns `true` if {@linkcode validateReference} would accept it.
 */
export function isJobReference(ref: string): boolean {
  return ID_PATTERN.test(ref) || NAME_PATTERN.test(ref);
}

/**
 * Finds the one ID among `ids` that a reference names, by the one rule every
 * command and function uses: the ID itself if present; then the same ULID
 * in another case; then the newest job of that name (`named`); then, for a
 * reference of at least {@linkcode MIN_REFERENCE_LENGTH} characters, the IDs
 * it starts; then, only if none, the IDs it ends. ULIDs made close together
 * share their first characters (the time), so the end of one, its random
 * part, is often the shorter way to name it. Prefixes and suffixes of ULIDs
 * are matched without regard to case; other IDs and names exactly.
 *
 * @param query A job ID, prefix, suffix or name.
 * @param ids The IDs to choose from (every one a valid job ID).
 * @param where The store searched, for the error's message.
 * @param named The ID of the newest job named `query`, if any; called only
 * when no ID is `query` and `query` can be a name.
 * @returns The one matching ID.
 * @throws {JobNotFoundError} If none matches (the message says when the
 * reference was too short to be taken as part of an ID).
 * @throws {AmbiguousJobIdError} If more than one matches.
 */
export function matchJobId(
  query: string,
  ids: readonly string[],
  where?: string,
  named?: () => string | undefined,
): string {
  const upper = query.toUpperCase();
  const spelled = ulidSpelling(query);
  const starts: string[] = [];
  const ends: string[] = [];
  let sameUlid: string | undefined;
  for (const id of ids) {
    if (id === query) return id;
    if (id === spelled) sameUlid = id;
    // Upper case is a ULID's only stored spelling, so only ULIDs are
    // compared in it.
    const asTyped = ULID_PATTERN.test(id) ? upper : query;
    if (id.startsWith(query) || id.startsWith(asTyped)) starts.push(id);
    else if (id.endsWith(query) || id.endsWith(asTyped)) ends.push(id);
  }
  if (sameUlid !== undefined) return sameUlid;
  const byName = NAME_PATTERN.test(query) ? named?.() : undefined;
  if (byName !== undefined) return byName;
  if (query.length < MIN_REFERENCE_LENGTH) {
    throw new JobNotFoundError(query, {
      where,
      reason:
        `no job has that ID or name, and a prefix or suffix of an ID needs at least ${MIN_REFERENCE_LENGTH} characters`,
    });
  }
  const matches = starts.length > 0 ? starts : ends;
  if (matches.length === 0) throw new JobNotFoundError(query, { where });
  if (matches.length > 1) {
    throw new AmbiguousJobIdError(
      query,
      matches.sort(),
      starts.length > 0 ? "prefix" : "suffix",
    );
  }
  return matches[0];
}

/**
 * Makes a new job ID: a ULID, which sorts by creation time (strictly, for
 * IDs made by one process, even within one millisecond) and is unique across
 * processes (80 random bits per millisecond).
 *
 * @returns A 26-character ULID in upper case.
 * @throws {Error} In the unlikely case that one process makes more than
 * 2^80 IDs within one millisecond (the ULID spec's overflow).
 */
export function newJobId(): string {
  return nextUlid();
}

/**
 * Makes a ULID generator, monotonic as the spec describes: within one
 * millisecond (or if the clock goes back) it reuses the last time and adds
 * one to the last random part, so each ID sorts after the one before.
 *
 * @param random Fills a byte array with random bytes.
 * @param now The current time in milliseconds since the epoch.
 * @returns The generator.
 */
export function monotonicUlid(
  random: (bytes: Uint8Array) => void = (bytes) => {
    crypto.getRandomValues(bytes);
  },
  now: () => number = Date.now,
): () => string {
  let lastTime = -1;
  // The random part as 16 base32 digits of 5 bits each: 80 bits.
  const digits = new Uint8Array(RANDOM_LEN);
  return () => {
    let time = now();
    if (time > lastTime) {
      random(digits);
      // 256 is a multiple of 32, so each digit stays uniform.
      for (let i = 0; i < RANDOM_LEN; i++) digits[i] &= 31;
      lastTime = time;
    } else {
      time = lastTime;
      let i = RANDOM_LEN - 1;
      while (i >= 0 && digits[i] === 31) digits[i--] = 0;
      if (i < 0) {
        // The digits wrapped to zero: put them back, so the next call
        // in this millisecond fails too instead of reusing an ID.
        digits.fill(31);
        throw new Error("Cannot make a ULID: random part overflowed");
      }
      digits[i]++;
    }
    let out = encodeTime(time);
    for (const d of digits) out += ALPHABET[d];
    return out;
  };
}

const nextUlid = monotonicUlid();

/**
 * Encodes a time as the 10-character time part of a ULID.
 *
 * @param ms Milliseconds since the epoch, 0 to 2^48 - 1.
 * @returns 10 characters of Crockford's base32.
 * @throws {RangeError} If the time is out of range or not an integer.
 */
export function encodeTime(ms: number): string {
  if (!Number.isSafeInteger(ms) || ms < 0 || ms > TIME_MAX) {
    throw new RangeError(`Invalid ULID time: ${ms}`);
  }
  let out = "";
  for (let i = 0; i < TIME_LEN; i++) {
    out = ALPHABET[ms % 32] + out;
    ms = Math.floor(ms / 32);
  }
  return out;
}

/**
 * Reads the creation time out of a ULID (in either case).
 *
 * @param id A ULID.
 * @returns Milliseconds since the epoch.
 * @throws {TypeError} If `id` is not a ULID.
 */
export function decodeTime(id: string): number {
  if (!ULID_PATTERN.test(id.toUpperCase())) {
    throw new TypeError(`Not a ULID: ${JSON.stringify(id)}`);
  }
  let ms = 0;
  for (const c of id.slice(0, TIME_LEN).toUpperCase()) {
    ms = ms * 32 + ALPHABET.indexOf(c);
  }
  return ms;
}
