// The PostgreSQL store (see postgres.ts for what it is): one row per job,
// the record kept as the file store's JSON text, updated by compare-and-swap
// in single statements; liveness by a lease the host's supervisors renew.

import postgres from "npm:postgres@3.4.9";
import { Wakeup } from "../util/wakeup.ts";
import { endJob, isFinalStatus } from "./rules.ts";
import { cleanEnded } from "./debris.ts";
import type * as contract from "./contract.ts";
import {
  type CreateJobOptions,
  type DeleteOptions,
  type InvalidJobFile,
  InvalidJobFileError,
  type Job,
  type JobEnd,
} from "./job.ts";
import {
  isJobId,
  JobNotFoundError,
  matchJobId,
  validateJobId,
  validateReference,
} from "./job_id.ts";
import { newestNamed, serializeJobRecord } from "./record.ts";
import {
  byId,
  CHANNEL,
  insertRow,
  parseRow,
  type Row,
  rowJob,
  swapRow,
} from "./pg_rows.ts";
import { newJob } from "./job_options.ts";
import {
  applyLiveness,
  holdLiveness,
  isLivenessHeld,
  livenessPath,
  localFiles,
  localJournal,
} from "./liveness.ts";
import { foldJournal } from "./journal.ts";
import {
  expireSql,
  lostColumnsSql,
  lostSql,
  renewSql,
  supervisedSql,
} from "./pg_sql.ts";
import {
  describe,
  isTransient,
  migrate,
  readTail,
  type Sql,
} from "./pg_support.ts";
import { createFile } from "./durable.ts";
import {
  type PostgresSettings,
  postgresSettings,
  type PostgresStoreOptions,
  reopenUrl,
} from "./pg_open.ts";
import { POSTGRES_STORE_CAPABILITIES } from "./capabilities.ts";
import { redact } from "./redact.ts";

/**
 * The PostgreSQL job store. Requires `--allow-net` for the server,
 * `--allow-env`, and `--allow-read`/`--allow-write` for the log directory.
 */
export class PostgresJobStore implements contract.JobStore {
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
  /** Shared by hosts; no scheduling (yet). */
  readonly capabilities: contract.StoreCapabilities =
    POSTGRES_STORE_CAPABILITIES;
  readonly #sql: Sql;
  readonly #url: URL;
  readonly #target: string;

  private constructor(sql: Sql, settings: PostgresSettings) {
    this.#sql = sql;
    this.#url = settings.url;
    this.location = redact(settings.url.href);
    const { hostname, port } = settings.url;
    this.#target = `${hostname || "localhost"}:${port || "5432"}`;
    this.host = settings.host;
    this.logDir = settings.logDir;
    this.leaseTtl = settings.leaseTtl;
    this.renewEvery = settings.renewEvery;
  }

  /** Where this host keeps its jobs' logs and liveness files: `logDir`. */
  get localDir(): string {
    return this.logDir;
  }

  /**
   * One renewal period, with its jitter, and three seconds for the pass to
   * start (a Deno process loading the PostgreSQL client: about 0.5 s, more
   * on a loaded machine) and run its batch.
   */
  get cancelReach(): number {
    return Math.ceil(this.renewEvery * 1.1) + 3_000;
  }

  /** The URL with its credentials and the store's options: a secret. */
  reopenSpec(): string {
    const { leaseTtl, renewEvery, logDir, host } = this;
    return reopenUrl({ url: this.#url, leaseTtl, renewEvery, logDir, host });
  }

  /** `<logDir>/<id>.log`: made from the ID, never taken from a row. */
  logPath(id: string): string {
    return `${this.logDir}/${validateJobId(id)}.log`;
  }

  /**
   * Connects, and creates or checks the schema.
   *
   * @param url A `postgres://` or `postgresql://` URL.
   * @param options Lease timing, log directory, host name, pool size.
   * @returns The open store; dispose it to close its connections.
   * @throws {RangeError} If a lease period is out of range.
   * @throws {PostgresStoreError} If the server cannot be reached, refuses
   * the credentials, or holds a schema newer than this code.
   * @throws {TypeError} If the URL is not a PostgreSQL URL.
   */
  static async open(
    url: string,
    options: PostgresStoreOptions = {},
  ): Promise<PostgresJobStore> {
    const settings = postgresSettings(url, options);
    const sql = postgres(settings.url.href, {
      max: options.maxConnections ?? 4,
      idle_timeout: options.idleTimeout ?? 2,
      connect_timeout: 10,
      onnotice: () => {},
      // A row lock another client keeps (a stopped one, say) is waited for
      // 5 s at most, as a record's lock file is (durable.ts lockBounded).
      connection: { application_name: "epack-detach", lock_timeout: 5_000 },
    }) as unknown as Sql;
    const store = new PostgresJobStore(sql, settings);
    try {
      await store.#run(() => migrate(sql));
    } catch (err) {
      await sql.end({ timeout: 0 }).catch(() => {});
      throw err;
    }
    return store;
  }

  /** See `JobStore.create`; the log is made in `logDir` on this host. */
  async create(options: CreateJobOptions): Promise<Job> {
    const job: Job = newJob(options, (id) => this.logPath(id));
    const text = serializeJobRecord(job);
    await Deno.mkdir(this.logDir, { recursive: true, mode: 0o700 });
    const made = createFile(job.logPath);
    try {
      // One statement: the row and its notification, or neither.
      const rows = await this.#run(() =>
        insertRow(this.#sql, job, this.host, text)
      );
      if (rows.length === 0) {
        throw new Deno.errors.AlreadyExists(`Job already exists: ${job.id}`);
      }
    } catch (err) {
      if (made) await Deno.remove(job.logPath).catch(() => {});
      throw err;
    }
    job.host = this.host;
    return job;
  }

  /**
   * See `JobStore.load`: the lost rule by the job's lock on this host if it
   * has one, else by its lease and the server's clock.
   */
  async load(id: string): Promise<Job> {
    return await this.#live(await this.#loadRow(id));
  }

  async #live(row: Row): Promise<Job> {
    const path = isJobId(row.id) ? livenessPath(this, row.id) : "";
    const local = row.host === this.host && isLivenessHeld(path) !== undefined;
    const job = rowJob(row, this.location, !local);
    if (!local) return job;
    const again = async () =>
      rowJob(await this.#loadRow(row.id), this.location, false);
    const write = () => this.update(row.id, (j) => j);
    return await applyLiveness(job, path, again, write);
  }

  /** Loads a job as recorded. */
  async loadRecorded(id: string): Promise<Job> {
    return rowJob(await this.#loadRow(id), this.location, false);
  }

  /** See `JobStore.resolve`: the records only of the jobs a name may name. */
  async resolve(ref: string): Promise<string> {
    validateReference(ref);
    // `_` is a LIKE wildcard; IDs are letters, digits and underscores.
    const like = ref.replaceAll("_", "\\_");
    const named = `"name"\\s*:\\s*"${ref.replaceAll(".", "\\.")}"`;
    const rows = await this.#run(() =>
      this.#sql<{ id: string; record: string | null }[]>`
        SELECT id, CASE WHEN record ~ ${named} THEN record END AS record
        FROM epack_detach_jobs
        WHERE id ILIKE ${like + "%"} OR id ILIKE ${"%" + like}
          OR record ~ ${named}`
    );
    const ids = rows.map((r) => r.id);
    if (ids.includes(ref)) return ref;
    const records = new Map(rows.map((r) => [r.id, r.record ?? undefined]));
    return matchJobId(
      ref,
      ids,
      this.location,
      () => newestNamed(ref, ids, (id) => records.get(id)),
    );
  }

  /** See `JobStore.list`. */
  async list(options: contract.ListOptions = {}): Promise<contract.ListResult> {
    const rows = await this.#run(() =>
      this.#sql<Row[]>`
        SELECT id, host, record, lease_until, ${lostColumnsSql(this.#sql)}
        FROM epack_detach_jobs
        ORDER BY started_at DESC, id DESC`
    );
    const jobs: Job[] = [];
    const invalid: InvalidJobFile[] = [];
    for (const row of rows) {
      let job: Job;
      try {
        job = await this.#live(row);
      } catch (err) {
        if (!(err instanceof InvalidJobFileError)) throw err;
        invalid.push({ id: row.id, path: err.path, reason: err.reason });
        continue;
      }
      if (options.status === undefined || job.status === options.status) {
        jobs.push(job);
      }
    }
    return { jobs, invalid };
  }

  /**
   * See `JobStore.update`: by compare-and-swap on the row's version, so `fn`
   * may run more than once. Always durable.
   */
  async update(id: string, fn: contract.JobUpdater): Promise<Job> {
    return await this.#swap(id, (current) => fn(structuredClone(current)));
  }

  // Single statements, no transaction open while `compute` runs: a lost
  // connection leaves the row as it was or as written, and no lock (and
  // postgres.js 3.4.9 crashes when a pinned connection dies, #1208).
  async #swap(
    id: string,
    compute: (current: Job) => Job | Promise<Job>,
  ): Promise<Job> {
    // A write cut off by a lost connection may have been committed: the
    // next read tells (the version moved on to what was written). A few
    // retries only: a server that stays away is the caller's to wait for.
    let sent: { version: bigint; text: string } | undefined;
    let retries = 0;
    for (;;) {
      let rows: Row[];
      try {
        rows = await this.#run(() =>
          this.#sql<Row[]>`
          SELECT id, host, record, version, lease_until,
            ${lostColumnsSql(this.#sql)}
          FROM epack_detach_jobs ${byId(this.#sql, id)}`
        );
      } catch (err) {
        // The pool may hand out another connection the server has dropped.
        if (retries++ < 3 && isTransient(err)) continue;
        throw err;
      }
      if (rows.length === 0) throw new JobNotFoundError(id);
      const row = rows[0];
      if (
        sent !== undefined && BigInt(row.version!) === sent.version + 1n &&
        row.record === sent.text
      ) {
        const done = parseRow(row, this.location);
        done.host = row.host;
        return done;
      }
      // What a supervisor of this host journaled is folded in first.
      let current = parseRow(row, this.location);
      const local = row.host === this.host;
      current = foldJournal(
        current,
        localJournal(this, { ...current, host: row.host }),
      );
      const next = await compute(current);
      // A job of this host keeps its log's end with its end (one statement).
      const tail =
        local && !isFinalStatus(parseRow(row, this.location).status) &&
          isFinalStatus(next.status)
          ? await readTail(this.logPath(row.id))
          : undefined;
      next.id = row.id;
      delete next.host;
      delete next.logTail;
      const text = serializeJobRecord(next);
      let written;
      try {
        written = await this.#run(() =>
          swapRow(this.#sql, row, next, text, tail ?? null)
        );
      } catch (err) {
        if (retries++ >= 3 || !isTransient(err)) throw err;
        sent = { version: BigInt(row.version!), text };
        continue;
      }
      sent = undefined;
      if (written.length === 0) continue;
      next.host = row.host;
      if (tail !== undefined) next.logTail = tail;
      return next;
    }
  }

  /** See `JobStore.finish`; a job of this host keeps its log's end. */
  async finish(id: string, end: JobEnd, at?: Date): Promise<Job> {
    return await this.update(id, endJob(end, at));
  }

  /** Deletes a job's row, and its log if the log is on this host. */
  async delete(id: string, options: DeleteOptions = {}): Promise<void> {
    const row = await this.#row(id, (where) =>
      this.#sql<Row[]>`
        DELETE FROM epack_detach_jobs
        WHERE id = (SELECT id FROM epack_detach_jobs ${where})
        RETURNING id, host, record`);
    if (row.host === this.host) {
      for (const path of localFiles(this.logDir, row.id, options.log ?? true)) {
        await Deno.remove(path).catch(() => {});
      }
    }
  }

  /** See `JobStore.clean`: of every host; logs only of this host's. */
  async clean(
    olderThan: number,
    options: contract.CleanOptions = {},
  ): Promise<string[]> {
    return await cleanEnded(this, olderThan, options, async (job) => {
      // Lost by this host's own evidence: its lease ends (as the renewer's).
      if (job.status === "lost" && job.host === this.host) {
        await this.expire(job.id);
      }
      // Re-checked in the DELETE: a lease renewed since the listing keeps a job.
      const rows = await this.#run(() =>
        this.#sql<Row[]>`
          DELETE FROM epack_detach_jobs
          WHERE id = ${job.id}
            AND (NOT ${supervisedSql(this.#sql)} OR ${lostSql(this.#sql)})
          RETURNING id, host, record`
      );
      if (rows.length === 0) return false;
      const mine = rows[0].host === this.host;
      for (const path of mine ? localFiles(this.logDir, job.id, true) : []) {
        await Deno.remove(path).catch(() => {});
      }
      return true;
    });
  }

  /** Whether the job's lease is current (by the server's clock). */
  async isHeld(id: string): Promise<boolean | undefined> {
    const row = await this.#row(id, (where) =>
      this.#sql<{ held: boolean }[]>`
        SELECT coalesce(lease_until > now(), false) AS held
        FROM epack_detach_jobs ${where}`);
    return row.held;
  }

  /**
   * Takes the job's local lock and its lease, which the host's renewer
   * renews while the lock is held.
   */
  async hold(id: string): Promise<contract.JobLease> {
    const previous = await this.loadRecorded(id);
    await Deno.mkdir(this.logDir, { recursive: true, mode: 0o700 });
    const file = await holdLiveness(livenessPath(this, previous.id));
    // Late by the server's clock, as readers see it, once the lock is held.
    const [row] = await this.renew([previous.id]).catch(() => []);
    const late = previous.supervisedAt === undefined && row?.late === true;
    return {
      previous,
      late,
      cancelRequested: previous.cancelRequestedAt === undefined
        ? new AbortController().signal
        : AbortSignal.abort(),
      [Symbol.asyncDispose]: async () => {
        file.close();
        await this.expire(previous.id);
      },
    };
  }

  /** Renews leases of this host's jobs (pg_lease.ts). Internal. */
  async renew(
    ids: string[],
  ): Promise<{ id: string; record: string | null; late: boolean }[]> {
    return await this.#run(() =>
      renewSql(this.#sql, ids, this.host, this.leaseTtl)
    );
  }

  /** Ends a job's lease now (a supervised job's only). */
  async expire(id: string): Promise<void> {
    await expireSql(this.#sql, id).catch(() => {});
  }

  /** Notifications of the job's changes (LISTEN on the store's channel). */
  async changes(id: string): Promise<contract.ChangeFeed> {
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

  #loadRow(id: string): Promise<Row> {
    return this.#row(id, (where) =>
      this.#sql<Row[]>`
        SELECT id, host, record, log_tail, lease_until,
          ${lostColumnsSql(this.#sql)}
        FROM epack_detach_jobs ${where}`);
  }

  /** The one row `query` returns, given the clause that picks job `id`. */
  async #row<T>(
    id: string,
    query: (where: ReturnType<typeof byId>) => Promise<T[]>,
  ): Promise<T> {
    const rows = await this.#run(() => query(byId(this.#sql, id)));
    if (rows.length === 0) throw new JobNotFoundError(id);
    return rows[0];
  }

  // Every call to the server, so that a failure is told in one line.
  async #run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw describe(err, this.#target);
    }
  }
}
