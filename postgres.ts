/**
 * A job store on PostgreSQL, so that one `jobs` sees and controls the jobs
 * of every host that shares the database. It implements the store contract
 * of `@epack/detach/store`; open it with `openStore("postgres://…")` or
 * {@linkcode PostgresJobStore.open}. The npm client (`postgres`) is loaded
 * only by this module, so file-store users never pay for it.
 *
 * - **Rows.** One row per job: the record in the file store's own JSON
 *   format, and beside it the host that created the job, its status, its
 *   lease and its cancel request. The schema is made on first use and
 *   versioned; a newer one is refused with a one-line error.
 * - **Liveness.** A lease by the server's clock. Each supervisor holds a
 *   flock on `<logDir>/<id>.live`, as in the file store; every
 *   `renewEvery` one supervisor per host renews, in one statement on one
 *   brief connection, the lease of every job whose flock is held, so a
 *   host's 1,000 jobs cost one short connection per period. A job whose
 *   lease expired reads `lost`, within `leaseTtl` (15 s by default) of its
 *   supervisor's or its host's death.
 * - **Cancel from any host.** The renewal returns cancel requests and the
 *   renewer signals the supervisor: within `renewEvery` (5 s by default,
 *   plus up to 10 % jitter), then the job's grace period applies.
 * - **Wait and follow.** Every change is notified (LISTEN/NOTIFY), with a
 *   poll once a second for what no change announces (an expired lease).
 * - **Logs stay on their host.** When a job ends, the last 8 KiB of its log
 *   are kept in the row for the other hosts.
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
