// The rows of the PostgreSQL store's jobs table: the columns it reads, the
// clause that picks one job's row, a row's job (the lost rule applied by
// the server's clock), and the two writes that notify every change.

import { asLost, isSupervisedStatus } from "./rules.ts";
import type { Job } from "./job.ts";
import { ulidSpelling, validateJobId } from "./job_id.ts";
import { parseJobRecord } from "./record.ts";
import type { Sql } from "./pg_support.ts";

/** The one channel every change is notified on; the payload is the job ID. */
export const CHANNEL = "epack_detach_jobs";

/** A row as a read selects it. */
export interface Row {
  id: string;
  host: string;
  record: string;
  lost: boolean;
  never: boolean;
  lease_until: Date | null;
  log_tail?: string | null;
  version?: string;
}

/**
 * The clause that picks one job's row: its exact ID, else the stored
 * spelling of a ULID typed in another case.
 */
export function byId(sql: Sql, id: string) {
  validateJobId(id);
  const alt = ulidSpelling(id) ?? id;
  return sql`WHERE id IN (${id}, ${alt}) ORDER BY (id = ${id}) DESC LIMIT 1`;
}

/** The row's record, parsed as the file store parses its files. */
export function parseRow(row: Row, location: string): Job {
  return parseJobRecord(row.record, row.id, `${location}#${row.id}`);
}

/** The row's job, with its host and log tail, and the lost rule if asked. */
export function rowJob(row: Row, location: string, applyLost: boolean): Job {
  const job = parseRow(row, location);
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

/** One statement: the new row and its notification, or neither. */
export function insertRow(sql: Sql, job: Job, host: string, text: string) {
  return sql`
    WITH ins AS (
      INSERT INTO epack_detach_jobs
        (id, host, status, started_at, record, cancel_requested)
      VALUES (${job.id}, ${host}, 'running', ${job.startedAt}, ${text}, false)
      ON CONFLICT (id) DO NOTHING
      RETURNING id)
    SELECT id, pg_notify(${CHANNEL}, id) FROM ins`;
}

/**
 * The compare-and-swap write of `next` over `row`, with its notification:
 * no row comes back if the version moved on since `row` was read.
 * A `tail` is the end of the job's log, kept with its
 * end in the same statement (a reader that sees the end sees the tail).
 */
export function swapRow(
  sql: Sql,
  row: Row,
  next: Job,
  text: string,
  tail: string | null = null,
) {
  return sql`
    WITH upd AS (
      UPDATE epack_detach_jobs SET
        record = ${text},
        status = ${next.status},
        cancel_requested = ${next.cancelRequestedAt !== undefined},
        ended_at = ${next.completedAt ?? null},
        log_tail = coalesce(log_tail, ${tail}::text),
        version = version + 1
      WHERE id = ${row.id} AND version = ${row.version!}
      RETURNING id)
    SELECT id, pg_notify(${CHANNEL}, id) FROM upd`;
}
