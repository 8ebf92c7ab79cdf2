/**
 * The job store's contract, and {@linkcode openStore}, which opens the
 * store a user named. Every function of this package takes the same
 * `store` option: an open store, a jobs directory (the file store), or a
 * `postgres://` URL (the PostgreSQL store, loaded only then).
 *
 * A job's supervisor holds its liveness while it lives (a flock, or a
 * lease by the server's clock), and every read applies the lost rule.
 *
 * @example Open the store a user named and list its jobs
 * ```ts ignore
 * import { openStore } from "@epack/detach/store";
 *
 * await using store = await openStore(Deno.env.get("JOBS") ?? ".epack/jobs");
 * const { jobs } = await store.list();
 * for (const job of jobs) console.log(job.host ?? "-", job.id, job.status);
 * ```
 *
 * @module
 */

export type * from "./store/types.ts";
export { openStore } from "./store/open.ts";
export { STORE_ENV } from "./store/env.ts";
