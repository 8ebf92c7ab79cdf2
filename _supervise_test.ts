// Tests of the supervisor's own entry module, end to end: the CLI's jobs are
// supervised (and finished, behind the perl shim) by _supervise.ts rather
// than by the whole CLI, jobs started later by the scheduler too, and a
// program that spawns its own jobs stays its own supervisor.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { waitForJob } from "./control.ts";
import { cli, withTempDir } from "./testdata/cli_helpers.ts";
import { gateCommand, mustSpawn } from "./testdata/spawn_helpers.ts";
import { startCluster } from "./testdata/pg_cluster.ts";
import { readJournal } from "./store/journal.ts";

const SUPERVISE = fileURLToPath(new URL("./_supervise.ts", import.meta.url));
const SPAWNER = fileURLToPath(
  new URL("./testdata/spawner.ts", import.meta.url),
);

/** A running process's argv. */
function cmdline(pid: number): string[] {
  return Deno.readTextFileSync(`/proc/${pid}/cmdline`).split("\0").slice(0, -1);
}

/**
 * How the job's Deno supervisor is run: its command line once it runs its
 * own program (started through `setsid`, it is `setsid` for a moment, and
 * empty while it execs); or, where the perl shim supervises the job, the
 * command line the shim has in its plan for it (the finisher's is the same
 * but for a last `--finish`). Waits up to 10 s for one, then returns what
 * it last read, for the caller's assertions to judge.
 */
async function supervisorCmdline(pid: number): Promise<string[]> {
  const end = Date.now() + 10_000;
  for (;;) {
    const argv = cmdline(pid);
    if (argv[0]?.endsWith("perl") && argv.length === 3) {
      const plan = readJournal(argv[2])!.plan;
      assert.deepEqual(plan.get("finish"), [
        ...plan.get("fallback")!,
        "--finish",
      ]);
      return plan.get("fallback")!;
    }
    const settled = argv.includes("__epack_detach_supervise__") &&
      !argv[0].endsWith("/setsid");
    if (settled || Date.now() > end) return argv;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The job's record once it has ended, read from its file. */
async function finalRecord(
  dir: string,
  id: string,
): Promise<{ status: string; error?: string }> {
  const end = Date.now() + 30_000;
  for (;;) {
    const record = JSON.parse(await Deno.readTextFile(`${dir}/${id}.json`));
    if (!["queued", "waiting", "running"].includes(record.status)) {
      return record;
    }
    if (Date.now() > end) {
      throw new Error(`Job ${id} is still ${record.status}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until a process has ended (a zombie counts: nothing reaps here). */
async function exited(pid: number): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    let stat: string;
    try {
      stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    } catch {
      return;
    }
    if (stat.slice(stat.lastIndexOf(")") + 2)[0] === "Z") return;
    if (Date.now() > end) throw new Error(`Process ${pid} did not exit`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Starts a job through the CLI; its `--json` answer. */
async function detach(
  dir: string,
  argv: string[],
): Promise<{ jobId: string; pid: number }> {
  const r = await cli([
    "run",
    "--detach",
    "--json",
    "--jobs-dir",
    dir,
    "--",
    ...argv,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const { id, pid } = JSON.parse(r.stdout);
  return { jobId: id, pid };
}

Deno.test("a CLI job's supervisor is _supervise.ts, not the CLI", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await detach(dir, ["sleep", "1"]);
    const argv = await supervisorCmdline(pid);
    assert.equal(argv.at(-4), SUPERVISE, argv.join(" "));
    assert.equal(argv.at(-3), "__epack_detach_supervise__");
    const job = await waitForJob(jobId, { store: dir, timeout: 30_000 });
    assert.equal(job.status, "completed", job.error);
  });
});

Deno.test("a CLI job on a PostgreSQL store: its URL reaches _supervise.ts in the environment", async () => {
  await using cluster = await startCluster();
  await withTempDir(async (dir) => {
    const r = await cli(
      ["run", "--detach", "--json", "--store", cluster.url, "--", "sleep", "1"],
      // The job's log goes to its user's state directory: the test's own.
      { cwd: dir, env: { XDG_STATE_HOME: dir } },
    );
    assert.equal(r.code, 0, r.stderr);
    const { id: jobId, pid } = JSON.parse(r.stdout);
    const argv = await supervisorCmdline(pid);
    assert.equal(argv.at(-4), SUPERVISE, argv.join(" "));
    // Not on the command line, which every user can read.
    assert.equal(argv.at(-2), "");
    assert.ok(!argv.some((a) => a.includes(cluster.password)));
    const job = await waitForJob(jobId, {
      store: cluster.url,
      timeout: 30_000,
    });
    assert.equal(job.status, "completed", job.error);
  });
});

Deno.test("a job the scheduler starts later is supervised the same way", async () => {
  await withTempDir(async (dir) => {
    const limit = await cli(["jobs", "limit", "1", "--jobs-dir", dir]);
    assert.equal(limit.code, 0, limit.stderr);
    // The first job runs until the test says so: the second is queued
    // however slowly the machine starts it.
    const gate = `${dir}/go`;
    const first = await detach(dir, ["sh", "-c", gateCommand(gate)]);
    const second = await detach(dir, ["true"]);
    const queued = JSON.parse(
      await Deno.readTextFile(`${dir}/${second.jobId}.json`),
    );
    assert.equal(queued.status, "queued");
    assert.equal(queued.supervisor_argv.at(-1), SUPERVISE);
    await Deno.writeTextFile(gate, "");
    // Read, not waitForJob(): that would run a scheduler pass here, whose
    // supervisor, never waited for, Deno 2.7's sanitizers count as a leak.
    for (const { jobId } of [first, second]) {
      const record = await finalRecord(dir, jobId);
      assert.equal(record.status, "completed", record.error);
    }
    // The first job's supervisor started the second and then exited: the
    // scheduler's modules loaded in it without waiting on _supervise.ts.
    await exited(first.pid);
  });
});

Deno.test("a program that spawns its own jobs is their supervisor", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "sleep",
      args: ["1"],
      store: dir,
    });
    assert.equal((await supervisorCmdline(pid)).at(-4), SPAWNER);
    const job = await waitForJob(jobId, { store: dir, timeout: 30_000 });
    assert.equal(job.status, "completed", job.error);
  });
});

Deno.test("_supervise.ts run by hand says what it is for", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SUPERVISE],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.match(new TextDecoder().decode(out.stderr), /spawn\(\) runs it/);
});
