// How a PostgreSQL store is set up: its options, given to open() or in the
// URL's query (which is how a job's supervisor opens the same store).

import { checkDuration } from "../duration.ts";
import { join } from "../util/path.ts";
import { hostName, userStateDir } from "./open.ts";

/**
 * Options for {@linkcode PostgresJobStore.open}. The first three can also
 * be given in the URL's query (`epack_lease_ttl`, `epack_renew_every` in
 * milliseconds, `epack_log_dir`), which the store removes before it
 * connects.
 */
export interface PostgresStoreOptions {
  /**
   * How long a lease lasts after each renewal, in milliseconds: the longest
   * a vanished supervisor's job still shows as running.
   * @default {15_000}
   */
  leaseTtl?: number;
  /**
   * How often the host's leases are renewed (and cancel requests looked
   * for), in milliseconds.
   * @default {leaseTtl / 3}
   */
  renewEvery?: number;
  /**
   * Where this host keeps the logs of the jobs it creates, and its
   * supervisors' liveness files.
   * @default {"$XDG_STATE_HOME/epack/logs", on macOS in ~/Library/Application Support}
   */
  logDir?: string;
  /** This host's name. @default {$EPACK_DETACH_HOST, else Deno.hostname()} */
  host?: string;
  /**
   * The most connections this store opens at once (LISTEN uses one more).
   * @default {4}
   */
  maxConnections?: number;
  /**
   * Seconds an idle connection of the store's pool stays open.
   * @default {2}
   */
  idleTimeout?: number;
}

/** The store's settings, the options resolved and gone from the URL. */
export type PostgresSettings =
  & Required<
    Pick<PostgresStoreOptions, "leaseTtl" | "renewEvery" | "logDir" | "host">
  >
  & { url: URL };

/**
 * The settings of a store: each option as given, else from the URL's
 * query, else its default.
 *
 * @throws {TypeError} If the URL is not a PostgreSQL URL.
 * @throws {RangeError} If a period is out of range, or the renewal is not
 * shorter than the lease.
 */
export function postgresSettings(
  url: string,
  options: PostgresStoreOptions,
): PostgresSettings {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError("Invalid PostgreSQL URL (postgres://user@host/db)");
  }
  if (!/^postgres(ql)?:$/.test(parsed.protocol)) {
    throw new TypeError("Not a PostgreSQL URL (postgres://user@host/db)");
  }
  const q = parsed.searchParams;
  const num = (key: string) => {
    const v = q.get(key);
    q.delete(key);
    if (v === null) return undefined;
    const n = Number(v);
    checkDuration(key, n);
    return n;
  };
  const leaseTtl = options.leaseTtl ?? num("epack_lease_ttl") ?? 15_000;
  const renewEvery = options.renewEvery ?? num("epack_renew_every") ??
    Math.max(1, Math.floor(leaseTtl / 3));
  const logDir = options.logDir ?? q.get("epack_log_dir") ??
    join(userStateDir(), "epack", "logs");
  const host = options.host ?? q.get("epack_host") ?? hostName();
  q.delete("epack_log_dir");
  q.delete("epack_host");
  if (!(renewEvery < leaseTtl)) {
    throw new RangeError(
      `The lease's renewal period (${renewEvery} ms) must be shorter than its TTL (${leaseTtl} ms)`,
    );
  }
  return {
    url: parsed,
    leaseTtl,
    renewEvery,
    logDir,
    host,
  };
}

/**
 * The URL with its credentials and the settings in its query, so that a
 * supervisor opens the same store. Secret: never on a command line.
 */
export function reopenUrl(settings: PostgresSettings): string {
  const url = new URL(settings.url);
  // The host a job's processes open the store as is the one it ran on.
  url.searchParams.set("epack_host", settings.host);
  url.searchParams.set("epack_lease_ttl", String(settings.leaseTtl));
  url.searchParams.set("epack_renew_every", String(settings.renewEvery));
  url.searchParams.set("epack_log_dir", settings.logDir);
  return url.href;
}
