/**
 * The job store's contract: what every store (the jobs directory, a
 * PostgreSQL database shared by hosts, a third one) gives the library and
 * the CLI, and {@linkcode openStore}, which opens the store a user named.
 * Every function of this package takes the same `store` option: an open
 * store, a jobs directory, or a `postgres://` URL.
 *
 * A plain path is the file store (`FileJobStore` in `@epack/detach/jobs`).
 * A `postgres://` URL is the PostgreSQL store (`@epack/detach/postgres`),
 * whose module and npm client are loaded only then: programs that use jobs
 * directories never download it.
 *
 * Liveness is part of the contract: a job's supervisor holds it while it
 * lives, and every read applies the lost rule, so a job whose supervisor is
 * gone reads `lost`. The file store holds a flock the kernel drops when the
 * supervisor dies; the PostgreSQL store a lease that expires by the
 * server's clock.
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
