// Which job store a command uses: `--store`, else `--jobs-dir`, else as
// every call (store/open.ts).

import { storeName } from "../store/open.ts";
import { isPostgresUrl } from "../store/capabilities.ts";
import { resolve } from "../util/path.ts";

/**
 * The store a command line names (a URL, or an absolute jobs directory),
 * whether it is shared by hosts, and whether a flag named it (hints then
 * repeat it).
 */
export function chooseStore(
  values: Record<string, string | boolean | undefined>,
): { name: string; shared: boolean; given: boolean } {
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

/** What "not found" and "no jobs" say after the store they looked in. */
export const OTHER_STORE =
  "to look in another store: --store DIR|URL, or $EPACK_DETACH_STORE";
