// What only the PostgreSQL store has: a schema, a server that can be
// unreachable, refuse credentials or drop a connection, cancels that cross
// hosts, and log tails kept in the row. The store contract itself is tested
// in store_conformance_test.ts, leases at volume in tests/load_test.ts.
import postgres from "npm:postgres@3.4.9";
import { requestCancel } from "./store/rules.ts";
import {
  LOG_TAIL_BYTES,
  PostgresJobStore,
  PostgresStoreError,
  SCHEMA_VERSION,
} from "./postgres.ts";
import { openStore } from "./store.ts";
import { clusterForFile } from "./testdata/pg_cluster.ts";
import { removeSettled, until } from "./testdata/poll.ts";
import { keepRenewing } from "./spawn/launch.ts";
import { appendJournal } from "./store/journal.ts";
import { livenessPath } from "./store/liveness.ts";
import { waitForJob, WaitTimeoutError } from "./control.ts";

// One cluster for this file's tests, a database each.
const sharedCluster = clusterForFile();

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}
async function rejection(fn: () => Promise<unknown>): Promise<Error> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof Error) return err;
    throw new Error(`Not an Error: ${String(err)}`);
  }
  throw new Error("Nothing was thrown");
}
function assertOneLine(err: Error, pattern: RegExp): void {
  assert(err instanceof PostgresStoreError, `${err.name}: ${err.message}`);
  assert(!err.message.includes("\n"), `not one line: ${err.message}`);
  assert(pattern.test(err.message), `unexpected message: ${err.message}`);
}

Deno.test("the PostgreSQL store refuses bad input with one line each", async (t) => {
  const cluster = await sharedCluster();
  const db = await cluster.createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  const url = `${db}?epack_log_dir=${encodeURIComponent(logDir)}`;
  try {
    await t.step("an unreachable server", async () => {
      // A port nobody listens on: the cluster's own, with the server stopped
      // would race with other steps, so a fresh free one.
      const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      const port = (l.addr as Deno.NetAddr).port;
      l.close();
      const err = await rejection(() =>
        openStore(`postgres://postgres:x@127.0.0.1:${port}/postgres`)
      );
      assertOneLine(
        err,
        /^Cannot reach the PostgreSQL server at 127\.0\.0\.1:\d+: connection refused$/,
      );
      assert((err as PostgresStoreError).transient, "transient");
    });

    await t.step("wrong credentials", async () => {
      const bad = new URL(cluster.url);
      bad.password = "not-the-password";
      const err = await rejection(() => openStore(bad.href));
      assertOneLine(
        err,
        /refused the credentials: password authentication failed for user "postgres"/,
      );
      assert(!(err as PostgresStoreError).transient, "not transient");
      assert(!err.message.includes("not-the-password"), "password shown");
    });

    await t.step("a schema from a newer version", async () => {
      const sql = postgres(cluster.url, { max: 1, onnotice: () => {} });
      try {
        await sql`CREATE DATABASE newer`;
      } finally {
        await sql.end();
      }
      const newer = cluster.url.replace(/\/postgres$/, "/newer");
      const first = await openStore(newer);
      await first[Symbol.asyncDispose]();
      const db = postgres(newer, { max: 1, onnotice: () => {} });
      try {
        await db`UPDATE epack_detach_schema SET version = ${
          SCHEMA_VERSION + 1
        }`;
      } finally {
        await db.end();
      }
      const err = await rejection(() => openStore(newer));
      assertOneLine(
        err,
        new RegExp(
          `schema version ${
            SCHEMA_VERSION + 1
          }, newer than this @epack/detach understands \\(${SCHEMA_VERSION}\\): upgrade`,
        ),
      );
    });

    await t.step(
      "a connection dropped in the middle of an update writes nothing",
      async () => {
        await using store = await openStore(url);
        const job = await store.create({ command: "x" });
        const admin = postgres(cluster.url, { max: 1, onnotice: () => {} });
        try {
          // Cut between the read and the write: the write fails on the dead
          // connection, and is made again on a new one, once.
          let cut = false;
          const done = await store.update(job.id, async (j) => {
            // The updater may run again (on a new read): cut only once.
            if (cut) {
              j.result = { whole: true };
              return j;
            }
            cut = true;
            await admin`
              SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE application_name = 'epack-detach'`;
            j.result = { whole: true };
            return j;
          });
          assertEquals(done.result, { whole: true });
          assertEquals((await store.loadRecorded(job.id)).result, {
            whole: true,
          });
        } finally {
          await admin.end();
        }
        // The server gone in the middle of an update: one line, and the row
        // as it was once the server is back.
        const err = await rejection(() =>
          store.update(job.id, async (j) => {
            await cluster.stop();
            j.result = { half: true };
            return j;
          })
        );
        await cluster.start();
        assertOneLine(
          err,
          /^(Cannot reach|Lost the connection to) the PostgreSQL server at 127\.0\.0\.1:\d+/,
        );
        assert((err as PostgresStoreError).transient, "transient");
        const after = await store.loadRecorded(job.id);
        assertEquals(after.result, { whole: true });
      },
    );

    await t.step("an invalid URL or lease setting", async () => {
      const err = await rejection(() =>
        PostgresJobStore.open(
          `${cluster.url}?epack_lease_ttl=1000&epack_renew_every=1000`,
        )
      );
      assert(err instanceof RangeError, String(err));
    });
  } finally {
    await removeSettled(logDir);
  }
});

Deno.test("the PostgreSQL store keeps the end of a job's log in its row", async () => {
  const db = await (await sharedCluster()).createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  try {
    await using a = await PostgresJobStore.open(db, {
      logDir,
      host: "host-a",
    });
    await using b = await PostgresJobStore.open(db, {
      logDir: "/nonexistent",
      host: "host-b",
    });
    const job = await a.create({ command: "x" });
    assertEquals(job.logPath, `${logDir}/${job.id}.log`);
    const lines = Array.from({ length: 2000 }, (_, i) => `line ${i}`).join(
      "\n",
    ) + "\n";
    await Deno.writeTextFile(job.logPath, lines);
    await a.finish(job.id, { status: "completed", exitCode: 0 });
    const seen = await b.load(job.id);
    assertEquals(seen.host, "host-a");
    assertEquals(seen.logPath, job.logPath);
    const tail = seen.logTail ?? "";
    assert(
      tail.length <= LOG_TAIL_BYTES && tail.length > 7000,
      `${tail.length}`,
    );
    assert(tail.endsWith("line 1999\n"), tail.slice(-20));
    // A delete on another host leaves the log where it is.
    await b.delete(job.id);
    await Deno.stat(job.logPath);
  } finally {
    await removeSettled(logDir);
  }
});

Deno.test("a file-store program never loads the PostgreSQL client", async () => {
  const probe = async (importPostgres: boolean) => {
    const here = (f: string) =>
      JSON.stringify(new URL(f, import.meta.url).href);
    const script = `
      import { openStore } from ${here("./store.ts")};
      ${importPostgres ? `await import(${here("./postgres.ts")});` : ""}
      const dir = await Deno.makeTempDir();
      await using store = await openStore(dir);
      await store.create({ command: "x" });
      await Deno.remove(dir, { recursive: true });
    `;
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--log-level=debug", "-"],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
      cwd: import.meta.dirname,
    }).spawn();
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(script));
    await w.close();
    const res = await child.output();
    const text = new TextDecoder().decode(res.stderr);
    assert(res.success, text.slice(-2000));
    // Deno logs each file of an npm package it loads.
    return /npm\/registry\.npmjs\.org\/postgres\/|package folder of postgres@/
      .test(text);
  };
  assertEquals(await probe(true), true, "the probe sees a load:");
  assertEquals(await probe(false), false, "file store loads postgres:");
});

Deno.test("a watch takes no end from a journal of another host's job, in a log directory both share", async () => {
  const db = await (await sharedCluster()).createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  const url = `${db}?epack_log_dir=${encodeURIComponent(logDir)}`;
  try {
    await using a = await PostgresJobStore.open(url, { host: "host-a" });
    await using b = await PostgresJobStore.open(url, { host: "host-b" });
    const job = await a.create({ command: "x" });
    await using _lease = await a.hold(job.id);
    // Host A's supervisor has journaled its end; its record does not say
    // it yet.
    appendJournal(livenessPath(a, job.id), "E", [
      `e${Date.now()}`,
      1,
      "x0",
      "-",
      "0",
      "-",
    ], true);
    // On host B the journal is no evidence: the record is its answer.
    const waited = await rejection(() =>
      waitForJob(job.id, { store: b, timeout: 1_000 })
    );
    assert(waited instanceof WaitTimeoutError, String(waited));
    assertEquals((await b.load(job.id)).status, "running");
    // On host A it is the job's end.
    const ended = await waitForJob(job.id, { store: a, timeout: 10_000 });
    assertEquals(ended.status, "completed");
    assertEquals((await b.load(job.id)).status, "completed");
  } finally {
    await removeSettled(logDir);
  }
});

Deno.test("a cancel from another host reaches the job's holder within the renewal period", async () => {
  const db = await (await sharedCluster()).createDatabase();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  const every = 500;
  const url = `${db}?epack_lease_ttl=3000&epack_renew_every=${every}` +
    `&epack_log_dir=${encodeURIComponent(logDir)}`;
  try {
    await using a = await PostgresJobStore.open(url, { host: "host-a" });
    await using b = await PostgresJobStore.open(url, {
      host: "host-b",
      logDir: "/nonexistent",
    });
    // In this process: a renewal pass passes the cancel on as SIGTERM
    // to the holder (this test runner), after the C line in its control
    // file.
    const job = await a.create({ command: "x" });
    {
      await using _lease = await a.hold(job.id);
      using _renewing = keepRenewing(a);
      const t0 = Date.now();
      const seen = Promise.withResolvers<void>();
      const onTerm = () => seen.resolve();
      Deno.addSignalListener("SIGTERM", onTerm);
      try {
        await b.update(job.id, requestCancel(Date.now() + 100, Date.now()));
        const timer = setTimeout(
          () => seen.reject(new Error("cancel not seen")),
          every * 3 + 2_000,
        );
        await seen.promise.finally(() => clearTimeout(timer));
      } finally {
        Deno.removeSignalListener("SIGTERM", onTerm);
      }
      console.log(`cancel seen after ${Date.now() - t0} ms`);
      const ctl = await Deno.readTextFile(`${logDir}/${job.id}.ctl`);
      assert(/^C \d+\n/.test(ctl), ctl);
    }
    // In another process, which gets SIGTERM (or renews, and sees it).
    const other = await a.create({ command: "y" });
    const child = new Deno.Command(Deno.execPath(), {
      // The job's host: its renewal passes are the holder's own.
      args: [
        "run",
        "-A",
        "testdata/hold_job.ts",
        `${url}&epack_host=host-a`,
        other.id,
      ],
      stdout: "piped",
      stderr: "inherit",
      cwd: import.meta.dirname,
    }).spawn();
    const out = child.stdout.pipeThrough(new TextDecoderStream());
    const lines: string[] = [];
    const reading = (async () => {
      for await (const chunk of out) lines.push(chunk);
    })();
    // Once it holds the lease (it says so).
    await until("the holder", () => lines.join("").includes("held late="));
    await b.update(other.id, requestCancel(Date.now() + 100, Date.now()));
    const t1 = Date.now();
    const killer = setTimeout(() => child.kill("SIGKILL"), every * 3 + 3_000);
    await child.status;
    clearTimeout(killer);
    await reading;
    const said = lines.join("");
    assert(
      /cancel requested|released/.test(said),
      `the holder did not see the cancel: ${said}`,
    );
    assert(Date.now() - t1 < every * 3 + 3_000, "too late");
  } finally {
    await removeSettled(logDir);
  }
});
