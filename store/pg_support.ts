// What the PostgreSQL store needs beside itself: its error, the schema and
// its migration, the words for the server's errors, a log's tail.

import type postgres from "npm:postgres@3.4.9";
import { readTail as readLogTail } from "./log_files.ts";

/** The schema version this code writes and understands. */
export const SCHEMA_VERSION = 1;

/** How much of a job's log's end is kept in its row when it ends: 8 KiB. */
export const LOG_TAIL_BYTES = 8 * 1024;

// Serialises the first-use migration of concurrent processes.
const MIGRATE_LOCK = 0x65706163; // "epac"

/** A connection pool of the client, as the store uses it. */
export type Sql = postgres.Sql<Record<string, never>>;

/**
 * A database error, told in one line: an unreachable server, refused
 * credentials, a newer schema, a connection dropped during a statement.
 */
export class PostgresStoreError extends Error {
  /** The server may be back later: a retry may succeed. */
  readonly transient: boolean;
  /**
   * Makes the error.
   * @param message One line.
   * @param transient Whether a retry may succeed.
   * @param options The client's error as `cause`.
   */
  constructor(message: string, transient: boolean, options?: ErrorOptions) {
    super(message, options);
    this.transient = transient;
  }
  /** The error's name, shown before its message. */
  override get name(): string {
    return "PostgresStoreError";
  }
}

export async function migrate(sql: Sql): Promise<void> {
  const version = async (q: Sql) => {
    const rows = await q<{ version: number }[]>`
      SELECT version FROM epack_detach_schema`;
    return rows[0]?.version;
  };
  // The common case, one query: the schema is there and current.
  try {
    const v = await version(sql);
    if (v === SCHEMA_VERSION) return;
    if (v !== undefined && v > SCHEMA_VERSION) throw tooNew(v);
  } catch (err) {
    if (!(isPgError(err) && err.code === "42P01")) throw err;
  }
  await sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATE_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS epack_detach_schema (version integer NOT NULL)`;
    const v = await version(tx as unknown as Sql);
    if (v !== undefined && v > SCHEMA_VERSION) throw tooNew(v);
    if (v === SCHEMA_VERSION) return;
    if (v === undefined) {
      // Version 1. The record is the file store's JSON text, kept verbatim;
      // the other columns are what the server must query or compute on.
      await tx`
        CREATE TABLE epack_detach_jobs (
          id text PRIMARY KEY,
          host text NOT NULL,
          status text NOT NULL,
          started_at timestamptz NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          ended_at timestamptz,
          record text NOT NULL,
          lease_until timestamptz,
          cancel_requested boolean NOT NULL DEFAULT false,
          log_tail text,
          version bigint NOT NULL DEFAULT 0
        )`;
      await tx`
        CREATE INDEX epack_detach_jobs_newest
        ON epack_detach_jobs (started_at DESC, id DESC)`;
      await tx`INSERT INTO epack_detach_schema (version) VALUES (${SCHEMA_VERSION})`;
    }
    // Later versions migrate from `v` here, step by step.
  });
}

function tooNew(v: number): PostgresStoreError {
  return new PostgresStoreError(
    `The database holds job store schema version ${v}, newer than this @epack/detach understands (${SCHEMA_VERSION}): upgrade @epack/detach`,
    false,
  );
}

interface PgError extends Error {
  code?: string;
}

export function isTransient(err: unknown): boolean {
  return err instanceof PostgresStoreError && err.transient;
}

function isPgError(err: unknown): err is PgError {
  return err instanceof Error && "code" in err;
}

type Say = (at: string, message: string, code: string) => string;
const UNREACHABLE: Say = (at, _, code) =>
  `Cannot reach ${at}: ${
    ({
      ECONNREFUSED: "connection refused",
      CONNECT_TIMEOUT: "timed out",
      ENOTFOUND: "unknown host",
      EAI_AGAIN: "unknown host",
    } as Record<string, string>)[code] ?? code
  }`;
// Each error code: its words, and whether a retry may succeed. 57P01-03:
// admin shutdown, crash shutdown, cannot connect now.
const KINDS: [string, boolean, Say][] = [
  [
    "ECONNREFUSED CONNECT_TIMEOUT ETIMEDOUT EHOSTUNREACH ENETUNREACH ENOTFOUND EAI_AGAIN",
    true,
    UNREACHABLE,
  ],
  [
    "CONNECTION_CLOSED CONNECTION_DESTROYED CONNECTION_ENDED ECONNRESET EPIPE 57P01 57P02 57P03",
    true,
    (at, m) =>
      `Lost the connection to ${at} (${m}); its change was applied whole or not at all`,
  ],
  ["28P01 28000", false, (at, m) => `${at} refused the credentials: ${m}`],
  ["3D000", false, (at, m) => `${at}: ${m}`],
  ["53300", true, (at, m) => `${at} has no connection free: ${m}`],
];

/** One line for a client or server error; the store's own errors unchanged. */
export function describe(err: unknown, target: string): unknown {
  if (err instanceof PostgresStoreError || !isPgError(err)) return err;
  const code = String(err.code);
  const at = `the PostgreSQL server at ${target}`;
  const message = err.message.split("\n")[0];
  const kind = KINDS.find(([codes]) => codes.split(" ").includes(code));
  if (kind !== undefined) {
    return new PostgresStoreError(kind[2](at, message, code), kind[1], {
      cause: err,
    });
  }
  if (!/^[0-9A-Z]{5}$/.test(code)) return err;
  return new PostgresStoreError(
    `${at} refused a query: ${message} (SQLSTATE ${code})`,
    false,
    { cause: err },
  );
}

/** The last {@linkcode LOG_TAIL_BYTES} of a job's log, if it has one. */
export async function readTail(path: string): Promise<string | undefined> {
  try {
    const { bytes } = await readLogTail(path, Infinity, LOG_TAIL_BYTES);
    // A text column cannot hold NUL.
    return new TextDecoder().decode(bytes).replaceAll("\0", "");
  } catch {
    return undefined;
  }
}
