// Asking for the permissions an operation needs before it changes anything,
// in one place: spawn(), cancel() and pause() check here first, so a missing
// flag is named up front instead of surfacing half-way (a cancel recorded
// that no signal follows, a program "not found" because PATH could not be
// read). Permissions are queried, never requested, so nothing prompts.

/** Whether a permission is granted (`false` for one this Deno lacks). */
export function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

/** An environment variable: `undefined` if unset, empty or not allowed. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/** A permission, the flag that grants it, and why it is needed. */
export type PermissionCheck = readonly [
  descriptor: Deno.PermissionDescriptor,
  flag: string,
  why: string,
];

/** The first check whose permission is not granted, or `undefined`. */
export function firstMissing(
  checks: readonly PermissionCheck[],
): { flag: string; why: string } | undefined {
  for (const [descriptor, flag, why] of checks) {
    if (!granted(descriptor)) return { flag, why };
  }
  return undefined;
}

/**
 * Refuses, naming the flag, what cancel() and pause() cannot finish: the
 * write that records the change (where the records are files here) and
 * the signals that follow it.
 */
export function requireControl(
  who: string,
  recordsDir: string | undefined,
  record: string,
  signal: string,
): void {
  const missing = firstMissing([
    ...(recordsDir === undefined ? [] : [
      [{ name: "write", path: recordsDir }, "--allow-write", record] as const,
    ]),
    [{ name: "run" }, "--allow-run", signal],
  ]);
  if (missing !== undefined) {
    throw new Deno.errors.NotCapable(
      `${who} needs ${missing.flag} (${missing.why})`,
    );
  }
}
