// The one way a test waits for something: poll the condition, with a bound.
// A fixed sleep is either too short on a loaded machine (a flaky failure) or
// too long on a quiet one (a slow suite); a poll is neither, and when it
// gives up it says what it was waiting for.

/**
 * Polls `check` until it gives a value other than `undefined` or `false`,
 * and returns that value.
 *
 * @param what What is awaited, for the error (a function: read when the
 *   wait fails, so it can say what was last seen).
 * @param check The condition; it may be async. An exception fails the wait
 *   at once (catch inside `check` for "not there yet").
 * @param ms How long to wait at most.
 * @param every The pause between two checks.
 * @throws {Error} `Timed out waiting for <what>` after `ms`.
 */
export async function until<T>(
  what: string | (() => string),
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 20_000,
  every = 25,
): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) {
      const said = typeof what === "string" ? what : what();
      throw new Error(`Timed out waiting for ${said} (${ms} ms)`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

/**
 * Removes a test's directory once the jobs' own processes (a finisher, a
 * renewal pass) have stopped writing there: retried while a file appears
 * under it as it is removed ("Directory not empty"), for up to `ms`.
 */
export async function removeSettled(dir: string, ms = 20_000): Promise<void> {
  await until(`${dir} to be removed`, async () => {
    try {
      await Deno.remove(dir, { recursive: true });
      return true;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return true;
      return undefined;
    }
  }, ms);
}

/**
 * Lets go of a job's lease and waits until its lock is free. Not always at
 * once: a process this test runner forks meanwhile (other test files run in
 * the same process) shares the lock's open file until it execs, so the flock
 * outlives the close for a moment (measured here: 8 probes in 3,000 found it
 * held right after the close while two loops spawned `true`; none without).
 */
export async function letGo(
  store: { isHeld(id: string): Promise<boolean | undefined> },
  id: string,
  lease: AsyncDisposable,
): Promise<void> {
  await lease[Symbol.asyncDispose]();
  await until(
    "the lock to be free",
    async () => (await store.isHeld(id)) !== true,
  );
}
