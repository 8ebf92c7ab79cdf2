// The PostgreSQL store (see postgres.ts for what it is): one row per job,
// the record kept as the file store's JSON text, updated by compare-and-swap
// in single statements; liveness by a lease the host's supervisors renew.

import postgres from "npm:postgres@3.4.9";
import { Wakeup } from "../util/wakeup.ts";
import {
  asLost,
  cleanable,
  cleanCutoff,
  endJob,
  isSupervisedStatus,
} from "./rules.ts";
import type {
  ChangeFeed,
  CleanOptions,
  JobLease,
  JobStore,
  JobUpdater,
  ListOptions,
  ListResult,
  StoreCapabilities,
} from "./contract.ts";
import {
  type CreateJobOptions,
  type DeleteOptions,
  type InvalidJobFile,
  InvalidJobFileError,
  type Job,
  type JobEnd,
} from "./job.ts";
import {
  JobNotFoundError,
  matchJobId,
  ulidSpelling,
  validateJobId,
} from "./job_id.ts";
import { newJob, parseJobRecord, serializeJobRecord } from "./record.ts";
import { checkDuration } from "../duration.ts";
import { holdLease } from "./pg_lease.ts";
import { rotatedLogPath } from "./log_files.ts";
import { lateSql, lostColumnsSql, lostSql, supervisedSql } from "./pg_sql.ts";
import {
  describe,
  isTransient,
  migrate,
  readTail,
  type Sql,
} from "./pg_support.ts";
import { hostName, userStateDir } from "./open.ts";
import { join } from "../util/path.ts";
import { POSTGRES_STORE_CAPABILITIES } from "./capabilities.ts";
import { redact } from "./redact.ts";

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
   * @default {"<the user's state directory>/epack/logs", see userStateDir()}
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
export class PostgresJobStore implements JobStore {
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
  readonly capabilities: StoreCapabilities = POSTGRES_STORE_CAPABILITIES;
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
    this.location = redact(url.href);
    this.#target = `${url.hostname || "localhost"}:${url.port || "5432"}`;
    this.host = options.host;
    this.logDir = options.logDir;
    this.leaseTtl = options.leaseTtl;
    this.renewEvery = options.renewEvery;
  }

  /** Where this host keeps its jobs' logs and liveness files: `logDir`. */
  get localDir(): string {
    return this.logDir;
  }

  /**
   * How long a cancel request takes at most to reach a supervisor on
   * another host: one renewal period, with its jitter, and a second for the
   * batch.
   */
  get cancelReach(): number {
    return Math.ceil(this.renewEvery * 1.1) + 1_000;
  }

  /**
   * The URL with its credentials, and the store's options in its query
   * (`epack_lease_ttl`, `epack_renew_every`, `epack_log_dir`), so that a
   * supervisor opens the same store. Secret: never on a command line.
   */
  reopenSpec(): string {
    const url = new URL(this.#url);
    url.searchParams.set("epack_lease_ttl", String(this.leaseTtl));
    url.searchParams.set("epack_renew_every", String(this.renewEvery));
    url.searchParams.set("epack_log_dir", this.logDir);
    return url.href;
  }

  /**
   * Where this host keeps the log of job `id`: `<logDir>/<id>.log`, made
   * from the ID, never taken from a row.
   */
  logPath(id: string): string {
    return `${this.logDir}/${validateJobId(id)}.log`;
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
      join(userStateDir(), "epack", "logs");
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
  async create(options: CreateJobOptions): Promise<Job> {
    const job: Job = newJob(options, (id) => this.logPath(id));
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
  async load(id: string): Promise<Job> {
    return this.#toJob(await this.#loadRow(id), true);
  }

  /** Loads a job as recorded. */
  async loadRecorded(id: string): Promise<Job> {
    return this.#toJob(await this.#loadRow(id), false);
  }

  /** See `JobStore.resolve`. */
  async resolve(ref: string): Promise<string> {
    validateJobId(ref);
    // `_` is a LIKE wildcard; IDs are letters, digits and underscores.
    const like = ref.replaceAll("_", "\\_");
    const rows = await this.#run(() =>
      this.#sql<{ id: string }[]>`
        SELECT id FROM epack_detach_jobs
        WHERE id ILIKE ${like + "%"} OR id ILIKE ${"%" + like}`
    );
    const ids = rows.map((r) => r.id);
    if (ids.includes(ref)) return ref;
    return matchJobId(ref, ids, this.location);
  }

  /** Lists the jobs, newest first, with the lost rule applied. */
  async list(
    options: ListOptions = {},
  ): Promise<ListResult> {
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
   * Read-modify-write by compare-and-swap: the row is read, `fn` computes
   * the new record, and it is written only if the row's version has not
   * moved since; otherwise it starts again, so `fn` may run more than once
   * and must be pure. Each step is one statement: a connection lost at any
   * point leaves the row as it was or as written. A record the store would
   * refuse to read, or an error in `fn`, writes nothing. Always durable.
   */
  async update(id: string, fn: JobUpdater): Promise<Job> {
    return await this.#swap(id, async (current) => ({
      next: await fn(structuredClone(current)),
    }));
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
      current: Job,
      row: Row,
    ) =>
      | { next: Job; lease?: boolean }
      | Promise<{ next: Job; lease?: boolean }>,
  ): Promise<Job> {
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
          SELECT id, host, record, version, lease_until,
            ${lostColumnsSql(this.#sql)}, ${lateSql(this.#sql)} AS late
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
   * Records a job's end, `at` the time it happened (the first end wins)
   * and, for a job of this host, the last {@linkcode LOG_TAIL_BYTES} of its
   * log, read from the path made from its ID on this host.
   */
  async finish(id: string, end: JobEnd, at?: Date): Promise<Job> {
    const job = await this.update(id, endJob(end, at));
    if (job.host !== this.host) return job;
    const tail = await readTail(this.logPath(job.id));
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
      await removeLogs(this.logPath(rows[0].id));
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
            AND (NOT ${supervisedSql(this.#sql)} OR ${lostSql(this.#sql)})
          RETURNING id, host, record`
      );
      if (rows.length === 0) continue;
      if (rows[0].host === this.host) {
        await removeLogs(this.logPath(rows[0].id));
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
    let previous: Job | undefined;
    let late = false;
    const held = await this.#swap(id, (current, row) => {
      previous = structuredClone(current);
      late = Boolean(row.late) && current.supervisedAt === undefined;
      current.supervisedAt = new Date();
      current.pid = Deno.pid;
      return { next: current, lease: true };
    });
    return await holdLease(
      {
        dir: this.logDir,
        url: this.#url,
        ttl: this.leaseTtl,
        every: this.renewEvery,
      },
      held.id,
      {
        previous: previous!,
        late,
        cancelRequested: held.cancelRequestedAt !== undefined,
      },
      () => this.#expire(held.id),
    );
  }

  // As the kernel drops a flock: a job left running without its supervisor
  // is lost at once, not only when the lease runs out.
  async #expire(id: string): Promise<void> {
    await this.#sql`
      UPDATE epack_detach_jobs SET lease_until = now()
      WHERE id = ${id} AND ${supervisedSql(this.#sql)}`.catch(() => {});
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
        SELECT id, host, record, log_tail, lease_until, ${
        lostColumnsSql(this.#sql)
      }
        FROM epack_detach_jobs WHERE id IN (${exact}, ${alt})
        ORDER BY (id = ${exact}) DESC LIMIT 1`
    );
    if (rows.length === 0) throw new JobNotFoundError(exact);
    return rows[0];
  }

  #parse(row: Row): Job {
    return parseJobRecord(row.record, row.id, `${this.location}#${row.id}`);
  }

  #toJob(row: Row, applyLost: boolean): Job {
    const job = this.#parse(row);
    job.host = row.host;
    if (row.log_tail != null) job.logTail = row.log_tail;
    if (applyLost && isSupervisedStatus(job.status) && row.lost) {
      asLost(
        job,
        row.never ? "never-started" : "gone",
        `its lease on host ${row.host} expired${
          row.lease_until ? ` at ${row.lease_until.toISOString()}` : ""
        } (it crashed, was killed, or its host vanished)`,
      );
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

/** The exact ID, and the stored spelling of a ULID typed in another case. */
function spellings(id: string): [string, string] {
  validateJobId(id);
  return [id, ulidSpelling(id) ?? id];
}

/** A job's log and its log cap's older half, `<id>.log.1`, if there. */
async function removeLogs(log: string): Promise<void> {
  for (const path of [log, rotatedLogPath(log)]) {
    await Deno.remove(path).catch(() => {});
  }
}
