// Which store a call uses, for the library and the CLI alike: the one it
// was given, else $EPACK_DETACH_STORE, else the project's jobs directory.

import type { JobStore } from "./contract.ts";
import { FileJobStore } from "./file_store.ts";
import { dirname, join, resolve } from "../util/path.ts";
import { HOST_ENV, STORE_ENV } from "./env.ts";
import { isPostgresUrl } from "./capabilities.ts";
import { refuseUrlLike } from "./redact.ts";
import { readEnv } from "../util/permissions.ts";

// supervise/supervisor.ts takes the name from here.
export { STORE_ENV };

/** An open store (used as it is, not closed), a jobs directory or a URL. */
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

/** This host's name: $EPACK_DETACH_HOST, else the hostname. */
export function hostName(): string {
  return readEnv(HOST_ENV) ?? Deno.hostname();
}

/** The nearest directory up from `from` holding `deno.json(c)`, if any. */
function findProjectDir(from: string = Deno.cwd()): string | undefined {
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

/** The default working directory of a job: the project `from` is in. */
export function findWorkingDir(from: string = Deno.cwd()): string {
  return findProjectDir(from) ?? resolve(from);
}

/**
 * The user's directory for state (not made here): on macOS `~/Library/
 * Application Support`, elsewhere `$XDG_STATE_HOME`, else `~/.local/state`.
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
 * nearest directory up from `from` with `deno.json` or `deno.jsonc`),
 * `<project>/.epack/jobs`; outside any, `<user state dir>/epack/jobs`.
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

/** `spec`, else `$EPACK_DETACH_STORE`, else {@linkcode defaultJobsDir}. */
export function storeName(spec?: string): string {
  const name = spec !== undefined && spec !== ""
    ? spec
    : readEnv(STORE_ENV) ?? defaultJobsDir();
  if (!isPostgresUrl(name)) refuseUrlLike(name);
  return name;
}

/**
 * Opens the store a caller named: a `postgres://` URL loads the PostgreSQL
 * store's module only then; anything else is a jobs directory.
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

/** Runs `fn` with the store `spec` names, closed after unless given open. */
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

// Not a literal import("../postgres.ts"): that would put `npm:postgres` in
// the module graph, lock file and binary of every program using this one.
function loadPostgres(): Promise<
  { PostgresJobStore: { open(url: string): Promise<JobStore> } }
> {
  return import(new URL("../postgres.ts", import.meta.url).href);
}
