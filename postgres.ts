/**
 * A job store on PostgreSQL, so that one `jobs` sees and controls the jobs
 * of every host that shares the database; open it with
 * `openStore("postgres://…")` or {@linkcode PostgresJobStore.open}. Only
 * this module loads the npm client.
 *
 * - **Rows.** One row per job: the record in the file store's JSON, its
 *   host, status, lease and cancel request; the schema is versioned.
 * - **Liveness.** A lease by the server's clock, renewed every
 *   `renewEvery` by one supervisor per host, in one statement, for every
 *   job whose flock is held there. A job reads `lost` within `leaseTtl`
 *   (15 s by default) of its supervisor's or its host's death.
 * - **Cancel from any host**, within `renewEvery` (5 s by default).
 * - **Wait and follow** by LISTEN/NOTIFY, and a poll once a second.
 * - **Logs stay on their host**; the last 8 KiB of an ended job's log are
 *   kept in its row for the others.
 *
 * @example Open a database and list its jobs
 * ```ts ignore
 * import { PostgresJobStore } from "@epack/detach/postgres";
 *
 * await using store = await PostgresJobStore.open("postgres://app@db.internal/jobs");
 * const { jobs } = await store.list({ status: "running" });
 * for (const job of jobs) console.log(job.host, job.id, job.command);
 * ```
 *
 * @module
 */

export type * from "./store/types.ts";
export { PostgresJobStore } from "./store/pg_store.ts";
export type { PostgresStoreOptions } from "./store/pg_open.ts";
export {
  LOG_TAIL_BYTES,
  PostgresStoreError,
  SCHEMA_VERSION,
} from "./store/pg_support.ts";
