/**
 * A job store on PostgreSQL, so that one `jobs` sees and controls the jobs
 * of every host that shares the database. It implements the store contract
 * of `@epack/detach/store`; open it with `openStore("postgres://…")` or
 * {@linkcode PostgresJobStore.open}. The npm client (`postgres`) is loaded
 * only by this module, so file-store users never pay for it.
 *
 * - **Rows.** One row per job: the record in the file store's own JSON
 *   format (checked by the same parser and writer), and beside it the host
 *   that created the job, its status, its lease and its cancel request.
 * - **Schema.** Created on first use and versioned in a table; a database
 *   whose schema is newer than this code is refused with a one-line error.
 * - **Liveness.** A lease by the server's clock: `lease_until = now() +
 *   leaseTtl`. Each supervisor holds a flock on `<logDir>/<id>.live` for its
 *   life, as in the file store; every `renewEvery` one supervisor per host
 *   (whichever takes the host's renewal lock) renews, in one statement on
 *   one brief connection, the lease of every job whose flock is held. No
 *   supervisor holds a connection for its life, and a host's 1,000 jobs
 *   cost the server one short connection per period, so `max_connections`
 *   (100 by default) does not bound the number of jobs. A running job whose
 *   lease has expired is `lost`: a job whose supervisor died, or whose host
 *   vanished, shows as lost at most `leaseTtl` (15 s by default) after its
 *   last renewal, so within `leaseTtl` of its death. A server away for
 *   longer than that shows the jobs lost until the renewals resume.
 * - **Cancel from any host.** A cancel request is a column; the renewal
 *   returns it, and the renewer sends SIGTERM to the job's supervisor, so a
 *   cancel from any host reaches it within `renewEvery` (5 s by default,
 *   plus up to 10 % jitter), then the job's grace period applies.
 * - **Wait and follow.** Every change is notified (LISTEN/NOTIFY) on one
 *   channel, with a poll once a second for what no change announces (an
 *   expired lease).
 * - **Logs stay on their host.** The row carries the host and the log's
 *   path; when a job ends, the last 8 KiB of its log are kept in the row.
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
