// The CLI's whole job lifecycle under the narrowest permissions that
// docs/permissions.md documents, without -A: Deno then refuses /proc, so
// every process question goes to `ps`. And each of those flags, left out,
// gets an error that names it.

import assert from "node:assert/strict";
import { MOD, withTempDir } from "../testdata/cli_helpers.ts";
import { alive, until } from "../testdata/spawn_helpers.ts";
import {
  markedProcesses,
  readProcess,
  signalProcess,
} from "../process/inspect.ts";
import { FileJobStore } from "../jobs.ts";

/** The documented set for the job commands (`pull` adds `--allow-net`). */
export const NARROW = [
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function epack(flags: string[], ...args: string[]): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, MOD, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    // Nothing forced: the CLI must find out by itself that /proc is closed.
    env: { NO_COLOR: "1", EPACK_DETACH_PROCESS_INSPECTOR: "" },
  }).output();
  const text = new TextDecoder();
  return {
    code: out.code,
    stdout: text.decode(out.stdout),
    stderr: text.decode(out.stderr),
  };
}

/** Jobs started here, so that a failed test leaves none of them running. */
const started: string[] = [];

function killStarted(): void {
  for (const id of started.splice(0)) {
    for (const p of markedProcesses(`EPACK_DETACH_JOB_ID=${id}`) ?? []) {
      signalProcess(p.pid, "SIGKILL");
    }
  }
}

/** `run --detach` under NARROW; returns the job's ID. */
async function detach(dir: string, ...args: string[]): Promise<string> {
  const r = await epack(NARROW, "run", "--detach", "--jobs-dir", dir, ...args);
  assert.equal(r.code, 0, r.stderr);
  const id = /Started job (\S+)/.exec(r.stdout)?.[1];
  assert.ok(id, r.stdout);
  started.push(id);
  return id;
}

function jobs(dir: string, ...args: string[]): Promise<Run> {
  return epack(NARROW, "jobs", ...args, "--jobs-dir", dir);
}

async function worker(store: FileJobStore, id: string): Promise<number> {
  return await until("the worker", async () => {
    const j = await store.load(id);
    return j.workerPid;
  });
}

Deno.test("the whole CLI lifecycle runs under --allow-read --allow-write --allow-run --allow-env, without -A", async (t) => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    using _cleanup = { [Symbol.dispose]: killStarted };

    await t.step("run --detach, jobs, jobs wait", async () => {
      const id = await detach(dir, "--", "sh", "-c", "echo hello");
      const w = await jobs(dir, "wait", id);
      assert.equal(w.code, 0, w.stderr);
      const list = await jobs(dir, "--all");
      assert.match(list.stdout, new RegExp(`${id} +completed`));
      assert.equal(await Deno.readTextFile(store.logPath(id)), "hello\n");
    });

    await t.step(
      "a timeout stops the tree, a setsid grandchild too",
      async () => {
        const id = await detach(
          dir,
          "--timeout",
          "700ms",
          "--",
          "sh",
          "-c",
          "setsid sleep 300 & sleep 300",
        );
        const mark = `EPACK_DETACH_JOB_ID=${id}`;
        const pgid = await worker(store, id);
        await until(
          "the escapee",
          () => markedProcesses(mark)!.some((p) => p.pgid !== pgid),
        );
        const w = await jobs(dir, "wait", id);
        assert.equal(w.code, 124, w.stderr);
        const job = await store.load(id);
        assert.equal(job.status, "timed_out");
        assert.deepEqual(markedProcesses(mark), [], "nothing of the job runs");
      },
    );

    await t.step("jobs cancel stops a running job's group", async () => {
      const id = await detach(dir, "--", "sh", "-c", "sleep 300 & sleep 300");
      const pgid = await worker(store, id);
      const c = await jobs(dir, "cancel", id, "--grace", "2s");
      assert.equal(c.code, 0, c.stderr);
      assert.equal((await store.load(id)).status, "cancelled");
      assert.ok(!alive(pgid));
    });

    await t.step(
      "a lost job's leftovers are kept by clean, stopped by cancel, then cleaned",
      async () => {
        const id = await detach(dir, "--", "sh", "-c", "sleep 300 & wait");
        const pgid = await worker(store, id);
        const supervisor = (await store.load(id)).pid;
        await until(
          "both processes",
          () => markedProcesses(`EPACK_DETACH_JOB_ID=${id}`)?.length === 2,
        );
        Deno.kill(supervisor, "SIGKILL");
        const w = await jobs(dir, "wait", id);
        assert.equal(w.code, 1, w.stderr);
        assert.equal((await store.load(id)).status, "lost");

        // Its processes still run: clean keeps the only handle on them.
        const kept = await jobs(dir, "clean", "--older-than", "0s");
        assert.equal(kept.code, 0, kept.stderr);
        assert.ok(await store.load(id));

        const c = await jobs(dir, "cancel", id, "--grace", "2s");
        assert.equal(c.code, 0, c.stderr + c.stdout);
        assert.match(c.stdout + c.stderr, /stopped 2 leftover process/);
        assert.ok(!alive(pgid));
        assert.ok(readProcess(pgid) === undefined || !alive(pgid));

        const cleaned = await jobs(dir, "clean", "--older-than", "0s");
        assert.equal(cleaned.code, 0, cleaned.stderr);
        const left = await Array.fromAsync(Deno.readDir(dir));
        assert.ok(
          !left.some((e) => e.name.startsWith(id)),
          "record and log gone",
        );
      },
    );
  });
});

Deno.test("each flag of the narrow set, when missing, is named in the error", async (t) => {
  await withTempDir(async (dir) => {
    using _cleanup = { [Symbol.dispose]: killStarted };
    for (const missing of NARROW) {
      await t.step(`without ${missing}`, async () => {
        const flags = NARROW.filter((f) => f !== missing);
        const r = await epack(
          flags,
          "run",
          "--detach",
          "--jobs-dir",
          dir,
          "--",
          "sh",
          "-c",
          "true",
        );
        assert.notEqual(r.code, 0);
        assert.ok(r.stderr.includes(missing), r.stderr);
      });
    }
    await t.step(
      "jobs cancel without --allow-run, jobs without --allow-read",
      async () => {
        const id = await detach(dir, "--", "sleep", "300");
        await worker(new FileJobStore(dir), id);
        const noRun = NARROW.filter((f) => f !== "--allow-run");
        const c = await epack(noRun, "jobs", "cancel", id, "--jobs-dir", dir);
        assert.equal(c.code, 1);
        assert.ok(c.stderr.includes("--allow-run"), c.stderr);
        const noRead = NARROW.filter((f) => f !== "--allow-read");
        const l = await epack(noRead, "jobs", "--jobs-dir", dir);
        assert.equal(l.code, 1);
        assert.ok(l.stderr.includes("--allow-read"), l.stderr);
        const done = await jobs(dir, "cancel", id, "--grace", "0s");
        // 75: not ended 2 s after the cancel, which a loaded machine can
        // take; the cancel stands, and the job ends cancelled.
        assert.ok([0, 75].includes(done.code), done.stderr);
        const ended = await jobs(dir, "wait", id, "--timeout", "30s");
        assert.equal(ended.code, 130, ended.stderr);
      },
    );
  });
});
