// The two backends the store contract is tested against, each able to make
// a fresh, empty store and to age a job past the start grace period (which
// each measures by its own clock: the record's startedAt, or the server's
// created_at).
import postgres from "npm:postgres@3.4.9";
import { type JobStore, openStore } from "../store.ts";
import { FileJobStore } from "../jobs.ts";
import { type PgCluster, startCluster } from "./pg_cluster.ts";

/** One backend under test. */
export interface Backend extends AsyncDisposable {
  readonly name: string;
  /** A new, empty store, and the name that opens it from another process. */
  fresh(): Promise<{ store: JobStore; url: string }>;
  /** Moves a job's creation back by `ms` as the backend measures it. */
  age(store: JobStore, id: string, ms: number): Promise<void>;
  /** How long after its holder dies a job is seen lost, at most. */
  readonly lostWithin: number;
}

/** The file store, over temp dirs removed on dispose. */
export function fileBackend(): Backend {
  const dirs: string[] = [];
  return {
    name: "file",
    lostWithin: 1_000,
    async fresh() {
      const dir = await Deno.makeTempDir({ prefix: "detach_store_" });
      dirs.push(dir);
      return { store: new FileJobStore(dir), url: dir };
    },
    async age(store, id, ms) {
      await store.update(id, (j) => {
        j.startedAt = new Date(j.startedAt.getTime() - ms);
        return j;
      });
    },
    async [Symbol.asyncDispose]() {
      for (const dir of dirs) {
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      }
    },
  };
}

/**
 * Options of the stores {@linkcode pgBackend} opens: a short lease so that
 * the lost rule can be seen within a test.
 */
export const TEST_LEASE = "epack_lease_ttl=1500&epack_renew_every=300";

/** The PostgreSQL store: a throwaway cluster, one database per store. */
export async function pgBackend(): Promise<Backend & { cluster: PgCluster }> {
  const cluster = await startCluster();
  const stores: JobStore[] = [];
  const logDirs: string[] = [];
  return {
    name: "postgres",
    cluster,
    lostWithin: 1_500 + 1_000,
    async fresh() {
      const db = await cluster.createDatabase();
      const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
      logDirs.push(logDir);
      const url = `${db}?${TEST_LEASE}&epack_log_dir=${
        encodeURIComponent(logDir)
      }`;
      const store = await openStore(url);
      stores.push(store);
      return { store, url };
    },
    async age(store, id, ms) {
      const url = new URL(cluster.url);
      url.pathname = new URL(store.location).pathname;
      const sql = postgres(url.href, { max: 1, onnotice: () => {} });
      try {
        await sql`
          UPDATE epack_detach_jobs
          SET created_at = created_at - ${ms} * interval '1 millisecond'
          WHERE id = ${id}`;
      } finally {
        await sql.end();
      }
    },
    async [Symbol.asyncDispose]() {
      for (const s of stores) {
        await Promise.resolve(s[Symbol.asyncDispose]()).catch(() => {});
      }
      for (const d of logDirs) {
        await Deno.remove(d, { recursive: true }).catch(() => {});
      }
      await cluster[Symbol.asyncDispose]();
    },
  };
}
