// Which job store a command uses: `--store URL|DIR`, else `--jobs-dir DIR`,
// else the EPACK_DETACH_STORE environment variable, else the project's
// jobs directory. A `postgres://` URL is a store shared by hosts; anything
// else is a jobs directory.

import { storeName } from "../store/open.ts";
import { isPostgresUrl } from "../store/capabilities.ts";
import { resolve } from "../util/path.ts";

/** The store a command line names, and whether it named one itself. */
export interface ChosenStore {
  /** A `postgres://` URL or a jobs directory. */
  name: string;
  /** Whether it is a database shared by hosts. */
  shared: boolean;
  /** Whether `--store` or `--jobs-dir` named it (hints then repeat it). */
  given: boolean;
}

/**
 * Chooses the store from the flags, then as every call does
 * (`$EPACK_DETACH_STORE`, else the project's jobs directory). A jobs
 * directory is made absolute.
 */
export function chooseStore(
  values: Record<string, string | boolean | undefined>,
): ChosenStore {
  const flag = values.store;
  const dir = values["jobs-dir"];
  const given = typeof flag === "string" && flag !== ""
    ? flag
    : typeof dir === "string" && dir !== ""
    ? dir
    : undefined;
  const name = storeName(given);
  const shared = isPostgresUrl(name);
  return {
    name: shared ? name : resolve(name),
    shared,
    given: given !== undefined,
  };
}

/**
 * What every "not found" and "no jobs" message says after the store it
 * looked in: how to look in another.
 */
export const OTHER_STORE =
  "to look in another store: --store DIR|URL, or $EPACK_DETACH_STORE";
