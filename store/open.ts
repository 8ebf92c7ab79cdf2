// Which store a call uses, decided in one place for the library and the CLI
// alike: the store it was given (an open store, a jobs directory, or a
// `postgres://` URL), else $EPACK_DETACH_STORE, else the project's jobs
// directory. The PostgreSQL store's module (and its npm client) is loaded
// only for a `postgres://` URL, through an import no module graph holds.

import type { JobStore } from "./contract.ts";
import { FileJobStore } from "./file_store.ts";
import { dirname, join, resolve } from "../util/path.ts";
import { HOST_ENV, STORE_ENV } from "./env.ts";
import { isPostgresUrl } from "./capabilities.ts";
import { refuseUrlLike } from "./redact.ts";
import { readEnv } from "../util/permissions.ts";

// supervise/supervisor.ts takes the name from here.
export { STORE_ENV };

/**
 * A store as a caller names it: an open store (used as it is, and not
 * closed), a jobs directory, or a `postgres://` URL.
 */
export type StoreSpec = string | JobStore;

/** The one option every function that reads or changes jobs takes. */
export interface StoreOption {
  /**
   * The job store: an open store (from `openStore()`, or a
   * `PostgresJobStore`), a jobs directory, or a `postgres://` URL.
   * @default {$EPACK_DETACH_STORE, else defaultJobsDir()}
   */
  store?: StoreSpec;
}

/** This host's name as stores record it: $EPACK_DETACH_HOST, else the hostname. */
export function hostName(): string {
  return readEnv(HOST_ENV) ?? Deno.hostname();
}

/**
 * The project `from` is in: the nearest directory holding `deno.json` or
 * `deno.jsonc`, walking up from `from`; `undefined` outside any project.
 */
export function findProjectDir(from: string = Deno.cwd()): string | undefined {
  for (let dir = resolve(from);; dir = dirname(dir)) {
    for (const name of ["deno.json", "deno.jsonc"]) {
      try {
        if (Deno.statSync(join(dir, name)).isFile) return dir;
      } catch {
        // Not here; keep walking.
      }
    }
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * The default working directory of a job spawn()s: the project `from` is
 * in (see {@linkcode findProjectDir}), else `from` itself.
 */
export function findWorkingDir(from: string = Deno.cwd()): string {
  return findProjectDir(from) ?? resolve(from);
}

/**
 * The user's directory for state that outlives a program (not made here):
 * on macOS `~/Library/Application Support`, elsewhere `$XDG_STATE_HOME`,
 * else `~/.local/state`. The same from any working directory, so what is
 * kept there (a database store's logs on this host) is found from anywhere.
 */
export function userStateDir(): string {
  const home = readEnv("HOME");
  if (Deno.build.os === "darwin" && home) {
    return join(home, "Library", "Application Support");
  }
  const xdg = readEnv("XDG_STATE_HOME");
  if (xdg !== undefined && xdg.startsWith("/")) return xdg;
  if (!home) {
    throw new Error(
      "Neither XDG_STATE_HOME nor HOME is set: cannot tell where this user keeps its state",
    );
  }
  return join(home, ".local", "state");
}

/**
 * The jobs directory used when no store is named: inside a project (the
 * nearest directory upward from `from` holding `deno.json` or
 * `deno.jsonc`), `<project>/.epack/jobs`; outside any, one per user,
 * `<userStateDir()>/epack/jobs`, never the current directory.
 *
 * @param from Where to look from.
 * @returns The jobs directory (not made here).
 * @throws {Error} Outside a project, if neither `XDG_STATE_HOME` nor `HOME`
 * is set.
 *
 * @example The jobs directory of a project
 * ```ts ignore
 * import { defaultJobsDir } from "@epack/detach";
 *
 * console.log(defaultJobsDir("/srv/app")); // /srv/app/.epack/jobs, with /srv/app/deno.json
 * ```
 */
export function defaultJobsDir(from: string = Deno.cwd()): string {
  const project = findProjectDir(from);
  return project === undefined
    ? join(userStateDir(), "epack", "jobs")
    : join(project, ".epack", "jobs");
}

/**
 * The name of the store a call uses when it was given `spec` (or nothing):
 * `spec`, else `$EPACK_DETACH_STORE`, else {@linkcode defaultJobsDir}.
 */
export function storeName(spec?: string): string {
  const name = spec !== undefined && spec !== ""
    ? spec
    : readEnv(STORE_ENV) ?? defaultJobsDir();
  if (!isPostgresUrl(name)) refuseUrlLike(name);
  return name;
}

/**
 * Opens the store a caller named (see {@linkcode storeName}). A
 * `postgres://` URL loads the PostgreSQL store's module, and its npm
 * client, only then; anything else is a jobs directory, opened without
 * touching the disk.
 *
 * @param spec An open store (returned as it is), a jobs directory or a
 * `postgres://` URL; left out, `$EPACK_DETACH_STORE` or the default.
 * @returns The store. Dispose it to close its connections, unless it was
 * given open.
 * @throws {Error} If a database cannot be reached or its schema is from a
 * newer version (a one-line message).
 */
export async function openStore(spec?: StoreSpec): Promise<JobStore> {
  if (spec !== undefined && typeof spec !== "string") return spec;
  const name = storeName(spec);
  if (isPostgresUrl(name)) {
    const { PostgresJobStore } = await loadPostgres();
    return await PostgresJobStore.open(name);
  }
  return new FileJobStore(name);
}

/**
 * Runs `fn` with the store `spec` names, opened for the call and closed
 * after it; a store given open is used as it is and left open.
 */
export async function withStore<T>(
  spec: StoreSpec | undefined,
  fn: (store: JobStore) => Promise<T>,
): Promise<T> {
  if (spec !== undefined && typeof spec !== "string") return await fn(spec);
  const store = await openStore(spec);
  try {
    return await fn(store);
  } finally {
    await store[Symbol.asyncDispose]();
  }
}

/**
 * The PostgreSQL store's module, loaded by a specifier no module graph
 * follows: a literal `import("../postgres.ts")` would put `npm:postgres` in
 * the graph (and lock file, and compiled binary) of every program that
 * imports this package, and make an offline start with an empty cache try
 * to download it.
 */
function loadPostgres(): Promise<
  { PostgresJobStore: { open(url: string): Promise<JobStore> } }
> {
  return import(new URL("../postgres.ts", import.meta.url).href);
}
