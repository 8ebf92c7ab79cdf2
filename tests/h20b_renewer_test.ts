// The PostgreSQL renewer against hostile rows, files and clients: a live
// job's lease is renewed whatever else the database or the log directory
// holds, and nothing but a live job of this host is renewed.

import assert from "node:assert/strict";
import postgres from "npm:postgres@3.4.9";
import { clusterForFile } from "../testdata/pg_cluster.ts";
import { removeSettled } from "../testdata/poll.ts";
import { PostgresJobStore } from "../postgres.ts";
import type { Job } from "../jobs.ts";
import { renewalDue, renewerLock, runRenewer } from "../store/pg_lease.ts";

const cluster = clusterForFile();

async function setup() {
  const url = await (await cluster()).createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_h20b_renew_" });
  const store = await PostgresJobStore.open(url, {
    logDir,
    host: "host-a",
    leaseTtl: 2_000,
    renewEvery: 150,
  });
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  const running = async () => {
    const job = await store.create({ command: "x" });
    await sql`UPDATE epack_detach_jobs SET status = 'running'
      WHERE id = ${job.id}`;
    return job.id;
  };
  const lease = async (id: string) => {
    const [row] = await sql<{ lease: Date | null }[]>`
      SELECT lease_until AS lease FROM epack_detach_jobs WHERE id = ${id}`;
    return row.lease;
  };
  // Locks the row from another client, until disposed.
  const lockRow = async (id: string): Promise<AsyncDisposable> => {
    const locked = Promise.withResolvers<void>();
    const release = Promise.withResolvers<void>();
    const holder = sql.begin(async (tx) => {
      await tx`SELECT id FROM epack_detach_jobs WHERE id = ${id} FOR UPDATE`;
      locked.resolve();
      await release.promise;
    });
    await Promise.race([locked.promise, holder]);
    return {
      async [Symbol.asyncDispose]() {
        release.resolve();
        await holder;
      },
    };
  };
  return {
    store,
    sql,
    logDir,
    running,
    lease,
    lockRow,
    async [Symbol.asyncDispose]() {
      await sql.end({ timeout: 1 });
      await store[Symbol.asyncDispose]();
      await removeSettled(logDir);
    },
  };
}

/** Holds `<logDir>/<name>` as a supervisor would (an exclusive flock). */
function holdFile(path: string): Deno.FsFile {
  const file = Deno.openSync(path, {
    read: true,
    write: true,
    create: true,
    mode: 0o600,
  });
  file.lockSync(true);
  return file;
}

// The PostgreSQL client's own timers (a statement cut short by the
// server's lock timeout): Deno 2.7's sanitizers count them.
const CLIENT_TIMERS = { sanitizeOps: false, sanitizeResources: false };

Deno.test("renew() renews only the named jobs of this host, never split IDs", async () => {
  await using s = await setup();
  const a = await s.running();
  const b = await s.running();
  // A comma inside one "ID" names two jobs to a comma list.
  assert.equal((await s.store.renew([`${a},${b}`])).length, 0);
  assert.equal(await s.lease(a), null);
  assert.equal(await s.lease(b), null);
  // A row of the same ID written for another host is not this host's.
  await s.sql`UPDATE epack_detach_jobs SET host = 'host-b' WHERE id = ${a}`;
  assert.equal((await s.store.renew([a])).length, 0);
  assert.equal(await s.lease(a), null);
});

Deno.test(
  "renew() is not held up by a row lock another client keeps",
  CLIENT_TIMERS,
  async () => {
    await using s = await setup();
    const a = await s.running();
    const b = await s.running();
    {
      await using _locked = await s.lockRow(a);
      const t0 = Date.now();
      const renewed = await Promise.race([
        s.store.renew([a, b]),
        new Promise<"blocked">((r) => setTimeout(() => r("blocked"), 10_000)),
      ]);
      assert.notEqual(renewed, "blocked", "renew() waited on the row lock");
      assert.ok(Date.now() - t0 < 10_000);
      assert.deepEqual(
        (renewed as { id: string }[]).map((r) => r.id),
        [b],
      );
      assert.notEqual(await s.lease(b), null);
    }
    // Once let go, the other is renewed too.
    assert.deepEqual((await s.store.renew([a])).map((r) => r.id), [a]);
  },
);

Deno.test("a renewal pass renews held jobs, whatever else the log dir holds", async () => {
  await using s = await setup();
  const a = await s.running();
  const b = await s.running();
  const c = await s.running();
  const files = [
    holdFile(`${s.logDir}/${a},${b}.live`),
    holdFile(`${s.logDir}/${c}.live`),
  ];
  try {
    await runRenewer(
      { localDir: s.logDir, host: "host-a", renewEvery: 150 },
      () =>
        Promise.resolve({
          localDir: s.logDir,
          host: "host-a",
          renewEvery: 150,
          renew: (ids: string[]) => s.store.renew(ids),
          update: (id: string, fn: (j: Job) => Job) => s.store.update(id, fn),
          load: (id: string) => s.store.load(id),
          expire: (id: string) => s.store.expire(id),
          // The test's store stays open.
          [Symbol.asyncDispose]: () => Promise.resolve(),
        }),
    );
    assert.notEqual(await s.lease(c), null, "c not renewed");
    assert.equal(await s.lease(a), null, "a renewed by a forged name");
    assert.equal(await s.lease(b), null, "b renewed by a forged name");
  } finally {
    for (const f of files) f.close();
  }
});

Deno.test("a renewal state dated in the future does not stop renewals", async () => {
  await using s = await setup();
  const store = { localDir: s.logDir, host: "host-a", renewEvery: 150 };
  const state = `${renewerLock(s.logDir, "host-a")}.state`;
  Deno.writeTextFileSync(state, "");
  const future = new Date(Date.now() + 86_400_000);
  Deno.utimeSync(state, future, future);
  assert.equal(renewalDue(store), true);
});

Deno.test(
  "an update waits on another client's row lock for a bounded time",
  CLIENT_TIMERS,
  async () => {
    await using s = await setup();
    const a = await s.running();
    {
      await using _locked = await s.lockRow(a);
      const t0 = Date.now();
      const outcome = await Promise.race([
        s.store.update(a, (job) => job).then(() => "updated", (e) => String(e)),
        new Promise<string>((r) => setTimeout(() => r("blocked"), 20_000)),
      ]);
      assert.match(outcome, /lock timeout/);
      assert.ok(Date.now() - t0 < 20_000);
    }
  },
);
