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

import { Wakeup } from "./util/wakeup.ts";
import {
  cleanable,
  cleanCutoff,
  isFinalStatus,
  isSupervisedStatus,
} from "./store/job.ts";
import postgres from "npm:postgres@3.4.9";
import {
  type CleanOptions,
  type CreateJobOptions,
  type DeleteOptions,
  type InvalidJobFile,
  InvalidJobFileError,
  type JobUpdater,
  type ListOptions,
  SUPERVISOR_START_GRACE_MS,
  validateJobId,
} from "./jobs.ts";
import { JobNotFoundError, matchJobId, ulidSpelling } from "./store/job_id.ts";
import { newJob, parseJobRecord, serializeJobRecord } from "./store/record.ts";
import { checkDuration } from "./duration.ts";
import { requestCancel } from "./store/cancel_request.ts";
import { holdLocal, renewHost } from "./store/pg_renewer.ts";
import {
  describe,
  isTransient,
  LOG_TAIL_BYTES,
  migrate,
  PostgresStoreError,
  readTail,
  SCHEMA_VERSION,
  type Sql,
} from "./store/pg_support.ts";

export { LOG_TAIL_BYTES, PostgresStoreError, SCHEMA_VERSION };
import {
  type ChangeFeed,
  hostName,
  type JobBackend,
  type JobEnd,
  type JobLease,
  type StoredJob,
  type StoredListResult,
} from "./store.ts";

/** The one channel every change is notified on; the payload is the job ID. */
const CHANNEL = "epack_detach_jobs";

/**
 * Options for {@linkcode PostgresJobStore.open}. Each can also be given in
 * the URL's query (`epack_lease_ttl`, `epack_renew_every` in milliseconds,
 * `epack_log_dir`), which the store removes before it connects.
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
   * @default {"<cwd>/.epack/logs"}
   */
  logDir?: string;
  /**
   * This host's name. @default {hostName()}
   */
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

interface Row {
  id: string;
  host: string;
  record: string;
  lost: boolean;
  never: boolean;
  lease_until: Date | null;
  log_tail?: string | null;
  version?: string;
  late?: boolean;
}

/**
 * The PostgreSQL job store. Requires `--allow-net` for the server,
 * `--allow-env`, and `--allow-read`/`--allow-write` for the log directory.
 *
 * @example Create a job and record its end
 * ```ts ignore
 * import { PostgresJobStore } from "@epack/detach/postgres";
 *
 * await using store = await PostgresJobStore.open(Deno.env.get("DATABASE_URL")!);
 * const job = await store.create({ command: "sync" });
 * await store.finish(job.id, { status: "completed", exitCode: 0 });
 * ```
 */
export class PostgresJobStore implements JobBackend {
  /** Always `"postgres"`. */
  readonly kind: "postgres" = "postgres";
  /** This host's name, recorded on each job it creates. */
  readonly host: string;
  /** The URL without its password. */
  readonly location: string;
  /** Where this host keeps its jobs' logs. */
  readonly logDir: string;
  /** The lease's time to live, in milliseconds. */
  readonly leaseTtl: number;
  /** The lease's renewal period, in milliseconds. */
  readonly renewEvery: number;
  readonly #sql: Sql;
  readonly #url: string;
  readonly #target: string;

  private constructor(
    sql: Sql,
    url: URL,
    options: Required<
      Pick<PostgresStoreOptions, "leaseTtl" | "renewEvery" | "logDir" | "host">
    >,
  ) {
    this.#sql = sql;
    this.#url = url.href;
    const shown = new URL(url);
    if (shown.password !== "") shown.password = "***";
    this.location = shown.href;
    this.#target = `${url.hostname || "localhost"}:${url.port || "5432"}`;
    this.host = options.host;
    this.logDir = options.logDir;
    this.leaseTtl = options.leaseTtl;
    this.renewEvery = options.renewEvery;
  }

  /**
   * Connects, and creates or checks the schema.
   *
   * @param url A `postgres://` or `postgresql://` URL.
   * @param options Lease timing, log directory, host name, pool size.
   * @returns The open store; dispose it to close its connections.
   * @throws {PostgresStoreError} If the server cannot be reached, refuses
   * the credentials, or holds a schema newer than this code.
   * @throws {TypeError} If the URL is not a PostgreSQL URL.
   */
  static async open(
    url: string,
    options: PostgresStoreOptions = {},
  ): Promise<PostgresJobStore> {
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
      `${Deno.cwd()}/.epack/logs`;
    q.delete("epack_log_dir");
    if (!(renewEvery < leaseTtl)) {
      throw new RangeError(
        `The lease's renewal period (${renewEvery} ms) must be shorter than its TTL (${leaseTtl} ms)`,
      );
    }
    const sql = postgres(parsed.href, {
      max: options.maxConnections ?? 4,
      idle_timeout: options.idleTimeout ?? 2,
      connect_timeout: 10,
      onnotice: () => {},
      connection: { application_name: "epack-detach" },
    }) as unknown as Sql;
    const store = new PostgresJobStore(sql, parsed, {
      leaseTtl,
      renewEvery,
      logDir,
      host: options.host ?? hostName(),
    });
    try {
      await store.#run(() => migrate(sql));
    } catch (err) {
      await sql.end({ timeout: 0 }).catch(() => {});
      throw err;
    }
    return store;
  }

  /** See `JobStore.create`; the log file is made in `logDir` on this host. */
  async create(options: CreateJobOptions): Promise<StoredJob> {
    const job: StoredJob = newJob(options, (id) => `${this.logDir}/${id}.log`);
    const id = job.id;
    const text = serializeJobRecord(job);
    await Deno.mkdir(this.logDir, { recursive: true, mode: 0o700 });
    let made = false;
    try {
      const f = await Deno.open(job.logPath, {
        write: true,
        createNew: true,
        mode: 0o600,
      });
      f.close();
      made = true;
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    try {
      // One statement: the row and its notification, or neither.
      const rows = await this.#run(() =>
        this.#sql`
          WITH ins AS (
            INSERT INTO epack_detach_jobs
              (id, host, status, started_at, record, cancel_requested)
            VALUES (${id}, ${this.host}, 'running', ${job.startedAt}, ${text}, false)
            ON CONFLICT (id) DO NOTHING
            RETURNING id)
          SELECT id, pg_notify(${CHANNEL}, id) FROM ins`
      );
      if (rows.length === 0) {
        throw new Deno.errors.AlreadyExists(`Job already exists: ${id}`);
      }
    } catch (err) {
      if (made) await Deno.remove(job.logPath).catch(() => {});
      throw err;
    }
    job.host = this.host;
    return job;
  }

  /** Loads a job with the lost rule applied (by the server's clock). */
  async load(id: string): Promise<StoredJob> {
    return this.#toJob(await this.#loadRow(id), true);
  }

  /** Loads a job as recorded. */
  async loadRecorded(id: string): Promise<StoredJob> {
    return this.#toJob(await this.#loadRow(id), false);
  }

  /** See `JobStore.resolveId`. */
  async resolveId(prefix: string): Promise<string> {
    validateJobId(prefix);
    // `_` is a LIKE wildcard; IDs are letters, digits and underscores.
    const like = prefix.replaceAll("_", "\\_");
    const rows = await this.#run(() =>
      this.#sql<{ id: string }[]>`
        SELECT id FROM epack_detach_jobs
        WHERE id ILIKE ${like + "%"} OR id ILIKE ${"%" + like}`
    );
    const ids = rows.map((r) => r.id);
    if (ids.includes(prefix)) return prefix;
    return matchJobId(prefix, ids);
  }

  /** Lists the jobs, newest first, with the lost rule applied. */
  async list(
    options: ListOptions = {},
  ): Promise<StoredListResult> {
    const rows = await this.#run(() =>
      this.#sql<Row[]>`
        SELECT id, host, record, lease_until, ${lostSql(this.#sql)}
        FROM epack_detach_jobs
        ORDER BY started_at DESC, id DESC`
    );
    const jobs: StoredJob[] = [];
    const invalid: InvalidJobFile[] = [];
    for (const row of rows) {
      let job: StoredJob;
      try {
        job = this.#toJob(row, true);
      } catch (err) {
        if (!(err instanceof InvalidJobFileError)) throw err;
        invalid.push({ id: row.id, path: err.path, reason: err.reason });
        continue;
      }
      if (options.status !== undefined && job.status !== options.status) {
        continue;
      }
      jobs.push(job);
    }
    return { jobs, invalid };
  }

  /**
   * Read-modify-write in one transaction, the row locked (`FOR UPDATE`): an
   * update from any host waits for the one before it. A record the store
   * would refuse to read, an error in `fn`, or a connection lost part way
   * rolls it back, so nothing half-written is ever seen.
   */
  async update(id: string, fn: JobUpdater): Promise<StoredJob> {
    return await this.#swap(id, async (current) => {
      const next: StoredJob = await fn(structuredClone(current));
      return { next };
    });
  }

  // Read, compute, and write back only if nobody wrote in between (the
  // row's version is unchanged), else start again: a compare-and-swap in
  // one statement. No transaction stays open while `compute` runs, so a
  // connection lost at any point leaves the row as it was or as written,
  // never half-written, and holds no lock. (The client also crashes its
  // process when a connection pinned to a transaction dies, postgres.js
  // 3.4.9 issue #1208; single statements never pin one.)
  async #swap(
    id: string,
    compute: (
      current: StoredJob,
      row: Row,
    ) => Promise<{ next: StoredJob; lease?: boolean }>,
  ): Promise<StoredJob> {
    const [exact, alt] = spellings(id);
    // A write cut off by a lost connection may or may not have been
    // committed: the next read tells (the version moved on to exactly what
    // was written), and only then is the change made again. A few times
    // only, at once: a server that stays away is the caller's to wait for.
    let sent: { version: bigint; text: string } | undefined;
    let retries = 0;
    for (;;) {
      let rows: Row[];
      try {
        rows = await this.#run(() =>
          this.#sql<Row[]>`
          SELECT id, host, record, version, lease_until, ${lostSql(this.#sql)},
            lease_until IS NULL AND now() - created_at >=
              ${SUPERVISOR_START_GRACE_MS} * interval '1 millisecond' AS late
          FROM epack_detach_jobs WHERE id IN (${exact}, ${alt})
          ORDER BY (id = ${exact}) DESC LIMIT 1`
        );
      } catch (err) {
        // The pool may hand out another connection the server has dropped.
        if (retries++ < 3 && isTransient(err)) continue;
        throw err;
      }
      if (rows.length === 0) throw new JobNotFoundError(exact);
      const row = rows[0];
      if (
        sent !== undefined && BigInt(row.version!) === sent.version + 1n &&
        row.record === sent.text
      ) {
        const done = this.#parse(row);
        done.host = row.host;
        return done;
      }
      const { next, lease } = await compute(this.#parse(row), row);
      next.id = row.id;
      delete next.host;
      delete next.logTail;
      const text = serializeJobRecord(next);
      const ttl = lease ? this.leaseTtl : null;
      let written;
      try {
        written = await this.#run(() =>
          this.#sql`
            WITH upd AS (
              UPDATE epack_detach_jobs SET
                record = ${text},
                status = ${next.status},
                cancel_requested = ${next.cancelRequestedAt !== undefined},
                ended_at = ${next.completedAt ?? null},
                lease_until = CASE WHEN ${ttl}::bigint IS NULL THEN lease_until
                  ELSE now() + ${ttl}::bigint * interval '1 millisecond' END,
                version = version + 1
              WHERE id = ${row.id} AND version = ${row.version!}
              RETURNING id)
            SELECT id, pg_notify(${CHANNEL}, id) FROM upd`
        );
      } catch (err) {
        if (retries++ >= 3 || !isTransient(err)) throw err;
        sent = { version: BigInt(row.version!), text };
        continue;
      }
      sent = undefined;
      if (written.length === 0) continue;
      next.host = row.host;
      return next;
    }
  }

  /**
   * Records a job's end (the first end wins) and, for a job of this host,
   * the last {@linkcode LOG_TAIL_BYTES} of its log.
   */
  async finish(id: string, end: JobEnd): Promise<StoredJob> {
    if (!isFinalStatus(end.status)) {
      throw new TypeError(`Cannot finish a job with status ${end.status}`);
    }
    const recorded = await this.loadRecorded(id);
    const tail = recorded.host === this.host
      ? await readTail(recorded.logPath)
      : undefined;
    const job = await this.update(id, (job) => {
      if (isFinalStatus(job.status)) return job;
      job.status = end.status;
      job.completedAt = new Date();
      if (end.exitCode !== undefined) job.exitCode = end.exitCode;
      if (end.signal !== undefined) job.signal = end.signal;
      if (end.error !== undefined) job.error = end.error;
      if (end.result !== undefined) job.result = end.result;
      return job;
    });
    if (tail !== undefined) {
      await this.#run(() =>
        this.#sql`
          UPDATE epack_detach_jobs SET log_tail = ${tail}
          WHERE id = ${job.id} AND log_tail IS NULL`
      );
      job.logTail = tail;
    }
    return job;
  }

  /** Deletes a job's row, and its log if the log is on this host. */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const [exact, alt] = spellings(id);
    const rows = await this.#run(() =>
      this.#sql<Row[]>`
        DELETE FROM epack_detach_jobs
        WHERE id = (SELECT id FROM epack_detach_jobs WHERE id IN (${exact}, ${alt})
                    ORDER BY (id = ${exact}) DESC LIMIT 1)
        RETURNING id, host, record`
    );
    if (rows.length === 0) throw new JobNotFoundError(exact);
    if ((options.log ?? true) && rows[0].host === this.host) {
      const logPath = `${this.logDir}/${rows[0].id}.log`;
      await Deno.remove(logPath).catch(() => {});
    }
  }

  /**
   * Removes ended (and lost) jobs older than `olderThan` ms, of every host;
   * a log is removed only where it is on this host.
   */
  async clean(
    olderThan: number,
    options: CleanOptions = {},
  ): Promise<string[]> {
    const cutoff = cleanCutoff(olderThan);
    const { jobs } = await this.list();
    const removed: string[] = [];
    for await (const job of cleanable(jobs, cutoff, options.keep)) {
      // Re-checked in the DELETE: a lease renewed since the listing (or an
      // end recorded) keeps a running job.
      const rows = await this.#run(() =>
        this.#sql<Row[]>`
          DELETE FROM epack_detach_jobs
          WHERE id = ${job.id}
            AND (status <> 'running' OR (${lostCondition(this.#sql)}))
          RETURNING id, host, record`
      );
      if (rows.length === 0) continue;
      if (rows[0].host === this.host) {
        await Deno.remove(job.logPath).catch(() => {});
      }
      removed.push(job.id);
    }
    return removed;
  }

  /** Whether the job's lease is current (by the server's clock). */
  async isHeld(id: string): Promise<boolean | undefined> {
    const [exact, alt] = spellings(id);
    const rows = await this.#run(() =>
      this.#sql<{ held: boolean }[]>`
        SELECT coalesce(lease_until > now(), false) AS held
        FROM epack_detach_jobs WHERE id IN (${exact}, ${alt})
        ORDER BY (id = ${exact}) DESC LIMIT 1`
    );
    if (rows.length === 0) throw new JobNotFoundError(exact);
    return rows[0].held;
  }

  /**
   * Takes the job's lease and renews it every `renewEvery` until disposed,
   * each time on a brief connection; each renewal also looks for a cancel
   * request. A renewal that fails (the server restarting, say) is tried
   * again at the next one; the job keeps running meanwhile.
   */
  async hold(id: string): Promise<JobLease> {
    let previous: StoredJob | undefined;
    let late = false;
    const held = await this.#swap(id, (current, row) => {
      previous = structuredClone(current);
      late = Boolean(row.late) && current.supervisedAt === undefined;
      current.supervisedAt = new Date();
      current.pid = Deno.pid;
      return Promise.resolve({ next: current, lease: true });
    });
    const jobId = held.id;
    const cancel = held.cancelRequestedAt !== undefined;
    const cancelled = new AbortController();
    if (cancel) cancelled.abort();
    let release: () => Promise<void>;
    try {
      release = await holdLocal(this.logDir, jobId, cancelled);
    } catch (err) {
      await this.#expire(jobId);
      throw err;
    }
    const target = {
      dir: this.logDir,
      url: this.#url,
      ttl: this.leaseTtl,
      every: this.renewEvery,
    };
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let renewing: Promise<unknown> = Promise.resolve();
    // A little jitter, so that supervisors started together do not all try
    // at the same instant; a failed renewal (the server restarting, or out
    // of connections) is tried again sooner.
    const schedule = (ms: number) => {
      if (stopped) return;
      timer = setTimeout(() => {
        renewing = renewHost(target).then((ok) => {
          const next = ok === false ? this.renewEvery / 4 : this.renewEvery;
          schedule(next * (0.9 + Math.random() * 0.2));
        });
      }, ms);
    };
    schedule(this.renewEvery * (0.9 + Math.random() * 0.2));
    return {
      previous: previous!,
      late,
      cancelRequested: cancelled.signal,
      [Symbol.asyncDispose]: async () => {
        stopped = true;
        clearTimeout(timer);
        await renewing;
        clearTimeout(timer);
        await release();
        await this.#expire(jobId);
      },
    };
  }

  // As the kernel drops a flock: a job left running without its supervisor
  // is lost at once, not only when the lease runs out.
  async #expire(id: string): Promise<void> {
    await this.#sql`
      UPDATE epack_detach_jobs SET lease_until = now()
      WHERE id = ${id} AND status = 'running'`.catch(() => {});
  }

  /** Records a cancel request; the supervisor sees it at its next renewal. */
  async requestCancel(id: string, grace: number): Promise<StoredJob> {
    return await this.update(id, (j) => {
      const now = Date.now();
      return requestCancel(j, now + grace, now);
    });
  }

  /** Notifications of the job's changes (LISTEN on the store's channel). */
  async changes(id: string): Promise<ChangeFeed> {
    const stored = (await this.loadRecorded(id)).id;
    const wakeup = new Wakeup();
    const { unlisten } = await this.#run(() =>
      this.#sql.listen(CHANNEL, (payload) => {
        if (payload === stored) wakeup.kick();
      })
    );
    return {
      next: (ms: number) => wakeup.next(ms),
      async [Symbol.asyncDispose]() {
        wakeup.kick();
        await unlisten().catch(() => {});
      },
    };
  }

  /** Closes the store's connections. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#sql.end({ timeout: 5 });
  }

  async #loadRow(id: string): Promise<Row> {
    const [exact, alt] = spellings(id);
    const rows = await this.#run(() =>
      this.#sql<Row[]>`
        SELECT id, host, record, log_tail, lease_until, ${lostSql(this.#sql)}
        FROM epack_detach_jobs WHERE id IN (${exact}, ${alt})
        ORDER BY (id = ${exact}) DESC LIMIT 1`
    );
    if (rows.length === 0) throw new JobNotFoundError(exact);
    return rows[0];
  }

  #parse(row: Row): StoredJob {
    return parseJobRecord(row.record, row.id, `${this.location}#${row.id}`);
  }

  #toJob(row: Row, applyLost: boolean): StoredJob {
    const job = this.#parse(row);
    job.host = row.host;
    if (row.log_tail != null) job.logTail = row.log_tail;
    if (applyLost && isSupervisedStatus(job.status) && row.lost) {
      job.status = "lost";
      job.error = row.never
        ? "The job's supervisor never started"
        : `The job's supervisor is gone: its lease on host ${row.host} expired${
          row.lease_until ? ` at ${row.lease_until.toISOString()}` : ""
        } (it crashed, was killed, or its host vanished)`;
    }
    return job;
  }

  // Every call to the server goes through here, so that a failure is told
  // in one line; the store's own errors pass through unchanged.
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describe(err, this.#target);
    }
  }
}

/**
 * The lost rule, by the server's clock: running, and its lease expired, or
 * never taken within the start grace period.
 */
function lostCondition(sql: Sql) {
  return sql`status = 'running' AND CASE
    WHEN lease_until IS NULL
      THEN now() - created_at >= ${SUPERVISOR_START_GRACE_MS} * interval '1 millisecond'
    ELSE lease_until < now() END`;
}

function lostSql(sql: Sql) {
  return sql`(${lostCondition(sql)}) AS lost, lease_until IS NULL AS never`;
}

/** The exact ID, and the stored spelling of a ULID typed in another case. */
function spellings(id: string): [string, string] {
  validateJobId(id);
  return [id, ulidSpelling(id) ?? id];
}
