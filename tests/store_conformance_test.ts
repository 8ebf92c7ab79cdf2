// The store contract (store.ts), one suite run against every backend: the
// file store over a temp dir, and the PostgreSQL store on a throwaway
// cluster (a real server: if it cannot start, this test fails).
import {
  InvalidJobIdError,
  JobNotFoundError,
  SUPERVISOR_START_GRACE_MS,
} from "../jobs.ts";
import { requestCancel } from "../store/rules.ts";
import { newJobId } from "../store/job_id.ts";
import type { JobStore } from "../store.ts";
import {
  type Backend,
  fileBackend,
  pgBackend,
} from "../testdata/store_fixtures.ts";
import { letGo, until } from "../testdata/poll.ts";

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}
async function assertRejects(
  fn: () => Promise<unknown>,
  cls: abstract new (...args: never[]) => Error,
  what: string,
): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof cls) return;
    throw new Error(`${what}: expected ${cls.name}, got ${String(err)}`);
  }
  throw new Error(`${what}: expected ${cls.name}, nothing was thrown`);
}

const HOSTILE = [
  "",
  "../etc/passwd",
  "a/b",
  "x'; DROP TABLE epack_detach_jobs; --",
  "job 1",
  "a%",
  "\u0000",
  "é",
  "x".repeat(65),
];

async function contract(t: Deno.TestContext, backend: Backend) {
  await t.step("create, load, update, finish, list, delete", async () => {
    const { store } = await backend.fresh();
    const job = await store.create({
      command: "sync",
      args: ["a b", "ü"],
      flags: ["--x"],
      timeout: 60_000,
      grace: 500,
      argv: ["sleep", "1"],
    });
    assertEquals(job.status, "running");
    const loaded = await store.loadRecorded(job.id);
    assertEquals(loaded.args, ["a b", "ü"]);
    assertEquals(loaded.timeout, 60_000);
    const updated = await store.update(job.id, (j) => {
      j.result = { done: 1 };
      return j;
    });
    assertEquals(updated.result, { done: 1 });
    const ended = await store.finish(job.id, {
      status: "failed",
      exitCode: 3,
      error: "Exited with code 3",
    });
    assertEquals(ended.status, "failed");
    // The first end wins.
    const again = await store.finish(job.id, { status: "completed" });
    assertEquals(again.status, "failed");
    assertEquals(again.exitCode, 3);
    const { jobs } = await store.list();
    assertEquals(jobs.map((j) => j.id), [job.id]);
    assertEquals((await store.list({ status: "running" })).jobs.length, 0);
    await store.delete(job.id);
    await assertRejects(() => store.load(job.id), JobNotFoundError, "load");
    await assertRejects(() => store.delete(job.id), JobNotFoundError, "delete");
  });

  await t.step("an existing ID cannot be created twice", async () => {
    const { store } = await backend.fresh();
    await store.create({ command: "a", id: "twice" });
    await assertRejects(
      () => store.create({ command: "b", id: "twice" }),
      Deno.errors.AlreadyExists,
      "second create",
    );
    assertEquals((await store.loadRecorded("twice")).command, "a");
  });

  await t.step(
    "updates from many store instances at once lose none",
    async () => {
      const { store, url } = await backend.fresh();
      const job = await store.create({ command: "count" });
      const others: JobStore[] = [];
      const { openStore } = await import("../store.ts");
      for (let i = 0; i < 4; i++) others.push(await openStore(url));
      try {
        const all = [store, ...others];
        await Promise.all(
          // 30: Deno 2.7.1 (the oldest supported) hangs when more than 32
          // FsFile.lock() calls wait at once in one process.
          Array.from(
            { length: 30 },
            (_, i) =>
              all[i % all.length].update(job.id, async (j) => {
                const n = (j.result?.n as number | undefined) ?? 0;
                // A yield in the middle: a store without a real lock would let
                // another read the same n here.
                await new Promise((r) => setTimeout(r, 1));
                j.result = { n: n + 1 };
                return j;
              }),
          ),
        );
        assertEquals((await store.loadRecorded(job.id)).result, { n: 30 });
      } finally {
        for (const o of others) await o[Symbol.asyncDispose]();
      }
    },
  );

  await t.step(
    "a record the store could not read back is refused whole",
    async () => {
      const { store } = await backend.fresh();
      const job = await store.create({ command: "x" });
      await assertRejects(
        () =>
          store.update(job.id, (j) => {
            j.result = { written: true };
            j.pid = 1.5;
            return j;
          }),
        RangeError,
        "fractional pid",
      );
      await assertRejects(
        () =>
          store.update(job.id, (j) => {
            j.result = { written: true };
            throw new TypeError("the updater failed");
          }),
        TypeError,
        "updater throws",
      );
      const after = await store.loadRecorded(job.id);
      assertEquals(after.result, undefined);
      assertEquals(after.pid, 0);
    },
  );

  await t.step(
    "hostile IDs are refused before they reach the store",
    async () => {
      const { store } = await backend.fresh();
      await store.create({ command: "keep", id: "keep_me" });
      for (const id of HOSTILE) {
        const calls: [string, () => Promise<unknown>][] = [
          ["create", () => store.create({ command: "x", id })],
          ["load", () => store.load(id)],
          ["update", () => store.update(id, (j) => j)],
          ["finish", () => store.finish(id, { status: "failed" })],
          ["delete", () => store.delete(id)],
          ["hold", () => store.hold(id)],
          ["isHeld", () => store.isHeld(id)],
          ["resolveId", () => store.resolve(id)],
          [
            "requestCancel",
            () => store.update(id, requestCancel(Date.now() + 0, Date.now())),
          ],
        ];
        for (const [name, call] of calls) {
          await assertRejects(
            call,
            InvalidJobIdError,
            `${name}(${JSON.stringify(id)})`,
          );
        }
      }
      const { jobs, invalid } = await store.list();
      assertEquals(jobs.map((j) => j.id), ["keep_me"]);
      assertEquals(invalid.length, 0);
    },
  );

  await t.step(
    "IDs resolve exactly, by prefix, by suffix, ULIDs in any case",
    async () => {
      const { store } = await backend.fresh();
      const ulid = newJobId();
      await store.create({ command: "x", id: ulid });
      await store.create({ command: "x", id: "abc_d" });
      await store.create({ command: "x", id: "abcxd_long" });
      assertEquals(await store.resolve(ulid.toLowerCase()), ulid);
      assertEquals((await store.load(ulid.toLowerCase())).id, ulid);
      assertEquals(await store.resolve(ulid.slice(-6).toLowerCase()), ulid);
      // `_` is literal, not a wildcard.
      assertEquals(await store.resolve("abc_"), "abc_d");
      assertEquals(await store.resolve("abcx"), "abcxd_long");
      await assertRejects(
        () => store.resolve("nothing"),
        JobNotFoundError,
        "unknown prefix",
      );
    },
  );

  await t.step(
    "names resolve after IDs, to the newest job of the name, before prefixes",
    async () => {
      const { store } = await backend.fresh();
      const older = await store.create({ command: "x", name: "nightly" });
      const newer = await store.create({ command: "x", name: "nightly" });
      assertEquals(await store.resolve("nightly"), newer.id);
      assertEquals(await store.resolve(older.id), older.id);
      // An ID beats a name; a name beats the end of an ID.
      const id = await store.create({ command: "x", id: "night2" });
      await store.create({ command: "x", name: "night2" });
      assertEquals(await store.resolve("night2"), id.id);
      await store.create({ command: "x", id: "job_suffixAB12" });
      const named = await store.create({ command: "x", name: "fixAB12" });
      assertEquals(await store.resolve("fixAB12"), named.id);
      assertEquals(await store.resolve("xAB12"), "job_suffixAB12");
      // Names are exact: another case is no name, and `.` no wildcard.
      await assertRejects(
        () => store.resolve("Nightly"),
        JobNotFoundError,
        "a name in another case",
      );
      await assertRejects(
        () => store.resolve("nightl."),
        JobNotFoundError,
        "a dot in a name",
      );
      await assertRejects(
        () => store.resolve("no/such name"),
        InvalidJobIdError,
        "neither an ID nor a name",
      );
    },
  );

  await t.step(
    "liveness: a held job runs; let go without an end, it is lost",
    async () => {
      const { store } = await backend.fresh();
      const job = await store.create({ command: "x" });
      // Not held yet, within the start grace period: still starting.
      assertEquals((await store.load(job.id)).status, "running");
      const lease = await store.hold(job.id);
      assertEquals(lease.late, false);
      assertEquals(await store.isHeld(job.id), true);
      // Its journal says who holds it; a read folds it in.
      const held = await store.load(job.id);
      assert(held.supervisedAt !== undefined, "supervisedAt stamped");
      assertEquals(held.pid, Deno.pid);
      assertEquals((await store.load(job.id)).status, "running");
      await letGo(store, job.id, lease);
      assertEquals(await store.isHeld(job.id), false);
      const lost = await store.load(job.id);
      assertEquals(lost.status, "lost");
      assert(lost.error?.includes("supervisor is gone"), lost.error);
      // The lost rule is applied on read; the record still says running.
      assertEquals((await store.loadRecorded(job.id)).status, "running");
    },
  );

  await t.step(
    "liveness: a job whose supervisor never started is lost after the grace period",
    async () => {
      const { store } = await backend.fresh();
      const job = await store.create({ command: "x" });
      await backend.age(store, job.id, SUPERVISOR_START_GRACE_MS + 1_000);
      const lost = await store.load(job.id);
      assertEquals(lost.status, "lost");
      assertEquals(lost.error, "The job's supervisor never started");
      // One that comes now is late, and must not run the job.
      await using lease = await store.hold(job.id);
      assertEquals(lease.late, true);
    },
  );

  await t.step(
    "liveness: a paused job is not lost while its holder lives, and is lost once it dies",
    async () => {
      const { store, url } = await backend.fresh();
      const job = await store.create({ command: "x" });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "../testdata/hold_job.ts", url, job.id],
        stdout: "piped",
        stderr: "inherit",
        cwd: import.meta.dirname,
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      try {
        const { value } = await reader.read();
        assert(value?.startsWith("held"), `holder said ${value}`);
        await store.update(job.id, (j) => {
          j.status = "paused";
          j.pausedAt = new Date();
          return j;
        });
        // Looked at through more than a lease's life (the PostgreSQL
        // store renews the leases of paused jobs too): paused every time.
        const watchUntil = Date.now() + backend.lostWithin + 500;
        let looks = 0;
        while (Date.now() < watchUntil) {
          const seen = await store.load(job.id);
          assertEquals(seen.status, "paused", seen.error);
          looks++;
          await new Promise((r) => setTimeout(r, 100));
        }
        assert(looks > 5, `${looks} looks`);
        child.kill("SIGKILL");
        await child.status;
        await until(
          "lost",
          async () => (await store.load(job.id)).status === "lost",
          backend.lostWithin + 2_000,
          50,
        );
        const lost = await store.load(job.id);
        assert(lost.error?.includes("supervisor is gone"), lost.error);
        // A clean of a lost paused job removes it, as any ended job (once
        // a renewal pass its holder started, which may renew the lease a
        // last time, is over).
        await until(
          "a clean to remove it",
          async () => (await store.clean(0)).includes(job.id),
          backend.lostWithin + 2_000,
          100,
        );
      } finally {
        reader.releaseLock();
        await child.stdout.cancel().catch(() => {});
        try {
          child.kill("SIGKILL");
        } catch {
          // Gone.
        }
        await child.status;
      }
    },
  );

  await t.step(
    "liveness: a holder killed with SIGKILL shows lost within the bound",
    async () => {
      const { store, url } = await backend.fresh();
      const job = await store.create({ command: "x" });
      const child = new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", "../testdata/hold_job.ts", url, job.id],
        stdout: "piped",
        stderr: "inherit",
        cwd: import.meta.dirname,
      }).spawn();
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      try {
        const { value } = await reader.read();
        assert(value?.startsWith("held"), `holder said ${value}`);
        assertEquals((await store.load(job.id)).status, "running");
        // Held past one renewal period, still running.
        await new Promise((r) => setTimeout(r, 700));
        assertEquals((await store.load(job.id)).status, "running");
        child.kill("SIGKILL");
        await child.status;
        await until(
          "lost",
          async () => (await store.load(job.id)).status === "lost",
          backend.lostWithin + 2_000,
          50,
        );
      } finally {
        reader.releaseLock();
        await child.stdout.cancel().catch(() => {});
        try {
          child.kill("SIGKILL");
        } catch {
          // Already gone.
        }
        await child.status;
      }
    },
  );

  await t.step(
    "a cancel request keeps the earliest SIGKILL deadline",
    async () => {
      const { store } = await backend.fresh();
      const job = await store.create({ command: "x" });
      // One reading of the clock: two could straddle a millisecond.
      const asked = Date.now();
      const first = await store.update(
        job.id,
        requestCancel(asked + 60_000, asked),
      );
      assert(first.cancelRequestedAt !== undefined, "recorded");
      assertEquals(first.grace, 60_000);
      // A later deadline leaves it; a sooner one moves it, from the first
      // request's time.
      const later = await store.update(
        job.id,
        requestCancel(Date.now() + 120_000, Date.now()),
      );
      assertEquals(later.grace, 60_000);
      const sooner = await store.update(
        job.id,
        requestCancel(Date.now() + 1_000, Date.now()),
      );
      assert(
        sooner.grace! >= 1_000 && sooner.grace! < 60_000,
        `${sooner.grace}`,
      );
      assertEquals(
        sooner.cancelRequestedAt?.getTime(),
        first.cancelRequestedAt?.getTime(),
      );
      await store.finish(job.id, { status: "cancelled" });
      const ended = await store.update(
        job.id,
        requestCancel(Date.now() + 1, Date.now()),
      );
      assertEquals(ended.status, "cancelled");
      assertEquals(ended.grace, sooner.grace);
    },
  );

  await t.step("changes wake a watcher at once", async () => {
    const { store } = await backend.fresh();
    const job = await store.create({ command: "x" });
    await using feed = await store.changes(job.id);
    const t0 = Date.now();
    // A wait of a minute that ends sooner was woken by the change.
    const waited = feed.next(60_000);
    await new Promise((r) => setTimeout(r, 50));
    await store.update(job.id, (j) => {
      j.result = { step: 1 };
      return j;
    });
    await waited;
    assert(Date.now() - t0 < 30_000, `woke after ${Date.now() - t0} ms`);
    // A change that came while nobody waited is kept for the next wait.
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    await new Promise((r) => setTimeout(r, 200));
    const t1 = Date.now();
    await feed.next(60_000);
    assert(Date.now() - t1 < 30_000, "pending change kept");
  });

  await t.step(
    "clean removes old ended and lost jobs, never running ones",
    async () => {
      const { store } = await backend.fresh();
      const done = await store.create({ command: "done" });
      await store.finish(done.id, { status: "completed", exitCode: 0 });
      const running = await store.create({ command: "running" });
      await using _lease = await store.hold(running.id);
      const lostKept = await store.create({ command: "lost-kept" });
      await letGo(store, lostKept.id, await store.hold(lostKept.id));
      const lostGone = await store.create({ command: "lost-gone" });
      await letGo(store, lostGone.id, await store.hold(lostGone.id));
      const removed = await store.clean(0, {
        keep: (j) => j.id === lostKept.id,
      });
      assertEquals([...removed].sort(), [done.id, lostGone.id].sort());
      const left = (await store.list()).jobs.map((j) => j.id).sort();
      assertEquals(left, [running.id, lostKept.id].sort());
      // A young job stays.
      const young = await store.create({ command: "young" });
      await store.finish(young.id, { status: "failed" });
      assertEquals(await store.clean(60_000), []);
    },
  );
}

Deno.test("the file store keeps the store contract", async (t) => {
  await using backend = fileBackend();
  await contract(t, backend);
});

Deno.test("the PostgreSQL store keeps the store contract", async (t) => {
  await using backend = await pgBackend();
  await contract(t, backend);
});
