// Asking for the permissions an operation needs before it changes anything,
// in one place: spawn() and cancel() check here first, so a missing flag is
// named up front instead of surfacing half-way (a cancel recorded that no
// signal follows, a program "not found" because PATH could not be read).

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
    if (Deno.permissions.querySync(descriptor).state !== "granted") {
      return { flag, why };
    }
  }
  return undefined;
}
