// Job IDs: making them (ULIDs), checking IDs from outside, matching what a
// user typed, and the errors of a lookup. The ULID generator is our own:
// npm's `ulid` loads node:crypto in Deno, 7-10 ms at every start.

/**
 * The environment variable that holds a job's ID in its worker and every
 * process the worker starts (cancel() finds a lost job's processes by it).
 */
export const JOB_ID_ENV = "EPACK_DETACH_JOB_ID";

const ID_PATTERN = /^[0-9A-Za-z_]{1,64}$/;

// Crockford's base32: no I, L, O or U.
const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const TIME_LEN = 10;
const RANDOM_LEN = 16;
const TIME_MAX = 2 ** 48 - 1;
// A ULID in upper case; 48 bits of time in 50 make the first digit 0-7.
const ULID_PATTERN = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;

/** Thrown when a job ID from outside is not valid. */
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

/** Thrown when no job has the given ID (or matches the reference). */
export class JobNotFoundError extends Error {
  /** The ID (or reference) that was looked up. */
  readonly id: string;
  /** The store it was looked up in, when known. */
  readonly where: string | undefined;
  /**
   * Makes the error for a missing job.
   * @param id The ID (or reference) that was looked up.
   * @param options The underlying error (`cause`), the store searched
   * (`where`, without a password), and why nothing matched (`reason`).
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

/** Thrown when a reference matches more than one job. */
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
 * Checks a job ID that came from outside: 1 to 64 characters of `A-Z`,
 * `a-z`, `0-9` or `_` (epack's rule), so it can never name another path.
 *
 * @param id The ID to check.
 * @returns The same ID.
 * @throws {InvalidJobIdError} If the ID is not valid.
 */
export function validateJobId(id: string): string {
  const why = typeof id !== "string"
    ? "not a string"
    : id.length === 0
    ? "empty"
    : id.length > 64
    ? "longer than 64 characters"
    : ID_PATTERN.test(id)
    ? undefined
    : "only letters, digits and underscores are allowed";
  if (why !== undefined) throw new InvalidJobIdError(String(id), why);
  return id;
}

/** Whether {@linkcode validateJobId} would accept `id`. */
export function isJobId(id: string): boolean {
  return ID_PATTERN.test(id);
}

/**
 * The upper-case spelling under which a ULID typed in another case is
 * stored; `undefined` if `id` is not such a ULID.
 */
export function ulidSpelling(id: string): string | undefined {
  const upper = id.toUpperCase();
  return upper !== id && ULID_PATTERN.test(upper) ? upper : undefined;
}

/** The fewest characters of a prefix or suffix that names a job. */
export const MIN_REFERENCE_LENGTH = 4;

const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

/**
 * Checks a job's name; starting with a letter, it is never a ULID, an
 * option or a path.
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

/** Checks a job reference (an ID, its prefix or suffix, or a name). */
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

/** Whether {@linkcode validateReference} would accept `ref`. */
export function isJobReference(ref: string): boolean {
  return ID_PATTERN.test(ref) || NAME_PATTERN.test(ref);
}

/**
 * The one ID among `ids` that a reference names, by the rule every command
 * uses: the ID itself; the same ULID in another case; the newest job of
 * that name (`named`); then, from {@linkcode MIN_REFERENCE_LENGTH}
 * characters, the IDs it starts, else those it ends (the random end of a
 * ULID is often the shorter way to name it). ULIDs match in any case.
 * `where` names the store in errors.
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

/** A new job ID: a ULID, which sorts by creation time, even within one ms. */
export function newJobId(): string {
  return nextUlid();
}

/**
 * A monotonic ULID generator: within one millisecond (or if the clock goes
 * back) it adds one to the last random part.
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

/** The 10-character time part of a ULID for `ms` (0 to 2^48 - 1). */
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

/** The creation time of a ULID (in either case), in ms since the epoch. */
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
