// The SQL of the rules every store applies (rules.ts), built from the same
// constants, so that the PostgreSQL store and the file store cannot say
// different things about which jobs are supervised, ended or lost.

import type postgres from "npm:postgres@3.4.9";
import { SUPERVISED_STATUSES, SUPERVISOR_START_GRACE_MS } from "./rules.ts";

/** The client's query builder, as the store and the renewer use it. */
type Sql = postgres.Sql<Record<string, never>>;

/**
 * `status IN ('running', 'paused')`: a job that says a supervisor holds it
 * (rules.ts `isSupervisedStatus`).
 */
export function supervisedSql(sql: Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`status IN ${sql(SUPERVISED_STATUSES as string[])}`;
}

/**
 * The lost rule (rules.ts `lostReason`) by the server's clock, the lease
 * being the liveness: supervised, and its lease expired, or never taken
 * within the start grace period.
 */
export function lostSql(sql: Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`(${supervisedSql(sql)} AND CASE
    WHEN lease_until IS NULL THEN ${lateSql(sql)}
    ELSE lease_until < now() END)`;
}

/**
 * rules.ts `isLate`: no supervisor took the job within the start grace
 * period, counted by the server's clock from the row's creation.
 */
export function lateSql(sql: Sql): postgres.PendingQuery<postgres.Row[]> {
  return sql`(lease_until IS NULL AND now() - created_at >= ${SUPERVISOR_START_GRACE_MS} * interval '1 millisecond')`;
}

/** The columns a read selects for the lost rule. */
export function lostColumnsSql(
  sql: Sql,
): postgres.PendingQuery<postgres.Row[]> {
  return sql`${lostSql(sql)} AS lost, lease_until IS NULL AS never`;
}

/** A job whose lease {@linkcode renewSql} renewed. */
export type Renewed = { id: string; record: string | null; late: boolean };

/**
 * The host's renewal (store/pg_lease.ts): the leases of these jobs of
 * `host` that are supervised; back come their IDs, the record of each whose
 * cancel was requested, and whether the start grace had passed (a hold
 * then comes late). A row another client keeps locked is skipped, not
 * waited for: the others are renewed, it is tried again next period.
 */
export function renewSql(sql: Sql, ids: string[], host: string, ttl: number) {
  return sql<Renewed[]>`
    UPDATE epack_detach_jobs SET
      lease_until = now() + ${ttl} * interval '1 millisecond'
    WHERE id IN (SELECT id FROM epack_detach_jobs
      WHERE id = ANY(${sql.array(ids)}::text[])
        AND host = ${host} AND ${supervisedSql(sql)}
      FOR UPDATE SKIP LOCKED)
    RETURNING id, CASE WHEN cancel_requested THEN record END AS record,
      now() - created_at >= ${SUPERVISOR_START_GRACE_MS} *
        interval '1 millisecond' AS late`;
}

/** Ends a job's lease now, as the kernel drops a flock (if supervised). */
export function expireSql(sql: Sql, id: string) {
  return sql`
    UPDATE epack_detach_jobs SET lease_until = now()
    WHERE id = ${id} AND ${supervisedSql(sql)}`;
}
