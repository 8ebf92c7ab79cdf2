// Which job store a command uses: `--store URL|DIR`, else `--jobs-dir DIR`,
// else the EPACK_DETACH_STORE environment variable, else the project's
// jobs directory. A `postgres://` URL is a store shared by hosts; anything
// else is a jobs directory.

import { isPostgresUrl, STORE_ENV } from "../store.ts";
import type { FlagSpec } from "./_args.ts";

/** The `--store` flag, the same on every command. */
export const STORE_FLAG: FlagSpec = {
  type: "string",
  value: "URL",
  help: "The job store: a postgres:// URL shared by hosts, or a\n" +
    `jobs directory (default: $${STORE_ENV}, else --jobs-dir)`,
};

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
 * Chooses the store from the flags and the environment.
 *
 * @param values The parsed flags (`store`, `jobs-dir`).
 * @param fallback The jobs directory when nothing names a store.
 * @returns The store's name and where it came from.
 */
export function chooseStore(
  values: Record<string, string | boolean | undefined>,
  fallback: () => string,
): ChosenStore {
  const flag = values.store;
  const dir = values["jobs-dir"];
  let name: string;
  let given = true;
  if (typeof flag === "string" && flag !== "") name = flag;
  else if (typeof dir === "string" && dir !== "") name = dir;
  else {
    given = false;
    let env: string | undefined;
    try {
      env = Deno.env.get(STORE_ENV);
    } catch {
      // Without --allow-env the variable cannot be read: not set, then.
    }
    name = env !== undefined && env !== "" ? env : fallback();
  }
  return { name, shared: isPostgresUrl(name), given };
}
