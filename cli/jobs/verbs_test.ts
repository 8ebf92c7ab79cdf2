// Tests of the everyday verbs: `jobs rm`, `jobs restart`, several
// references at once, names as references, and a lost job whose processes
// still run. The real CLI, as a subprocess, on real jobs.

import { FileJobStore } from "../../jobs.ts";
import { rotatedLogPath } from "../../store/log_files.ts";
import {
  assert,
  assertCliError,
  assertEquals,
  cli,
  craftEnded,
  gone,
  jobs,
  settled,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";
import { WAIT_EXIT } from "./wait.ts";

/** `run --detach --json` in the jobs directory `dir`: the job's JSON. */
async function run(dir: string, ...args: string[]) {
  const r = await cli(["run", "-d", "--json", "--jobs-dir", dir, ...args]);
  assertEquals(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

Deno.test("jobs rm removes ended jobs with their logs, and refuses what must stay", async () => {
  const dir = await tempDir();
  let running: Spawned | undefined;
  try {
    const store = new FileJobStore(dir);
    const a = await craftEnded(store);
    const b = await craftEnded(store, { exitCode: 3 });
    await Deno.writeTextFile(rotatedLogPath(store.logPath(a.id)), "older\n");
    running = await spawnJob(dir, "sleep", ["30"], { grace: 200 });

    const one = await jobs(dir, "rm", a.id);
    assertEquals([one.code, one.stdout], [0, `Removed job ${a.id}\n`]);
    for (const suffix of [".json", ".log", ".log.1", ".live", ".lock"]) {
      const path = `${dir}/${a.id}${suffix}`;
      assert(!(await exists(path)), `${path} is still there`);
    }

    // A running job is refused with the command that stops it; the others
    // named with it are still removed, and the exit code says one failed.
    const mixed = await jobs(dir, "rm", running.jobId, b.id, "--json");
    assertEquals(mixed.code, 1, mixed.stderr);
    assert(
      mixed.stderr.includes(
        `error: Cannot remove job ${running.jobId}: it has not ended (running); stop it with: `,
      ) && mixed.stderr.includes(`jobs cancel ${running.jobId} --jobs-dir`),
      mixed.stderr,
    );
    const [refused, removed] = mixed.stdout.trimEnd().split("\n").map((l) =>
      JSON.parse(l)
    );
    assertEquals(
      [refused.id, refused.status, refused.exit_code],
      [running.jobId, "running", 1],
    );
    assertEquals([removed.id, removed.outcome], [b.id, "removed"]);
    assertEquals(removed.exit_code, 3, "the job as it was");
    assertEquals((await store.load(running.jobId)).status, "running");
    assert(!(await exists(`${dir}/${b.id}.json`)));

    // A job a waiting job runs after stays: the waiting one needs its end.
    const c = await craftEnded(store);
    const waiting = await store.create({ command: "x", after: [c.id] });
    await store.update(waiting.id, (j) => ({ ...j, status: "waiting" }));
    assertCliError(
      await jobs(dir, "rm", c.id),
      undefined,
      /^error: Cannot remove job \w+: a waiting job runs after it$/,
    );
  } finally {
    if (running) await stopJob(dir, running.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lost job whose processes still run is listed, shown with them, and kept", async () => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sleep", ["30"]);
    const started = await until(
      dir,
      job.jobId,
      (j) => j.workerPid !== undefined,
    );
    // Its supervisor dies; its worker goes on.
    Deno.kill(started.pid, "SIGKILL");
    await until(dir, job.jobId, (j) => j.status === "lost");
    const worker = started.workerPid!;

    const list = await jobs(dir);
    assertEquals(list.code, 0, list.stderr);
    assert(
      new RegExp(`^${job.jobId} +lost \\(1 running\\) `, "m").test(list.stdout),
      list.stdout,
    );
    const listed = JSON.parse((await jobs(dir, "--json")).stdout).jobs;
    assertEquals(listed.map((j: { live_pids: number[] }) => j.live_pids), [[
      worker,
    ]]);
    const show = await jobs(dir, job.jobId);
    assert(
      show.stdout.includes(
        `  Processes:   PID ${worker} still run; stop them with: `,
      ) && show.stdout.includes(`jobs cancel ${job.jobId} --jobs-dir`),
      show.stdout,
    );
    assertCliError(
      await jobs(dir, "rm", job.jobId),
      undefined,
      /its processes still run \(PID \d+\); stop it with: .* jobs cancel /,
    );
    const cancel = await jobs(dir, "cancel", job.jobId, "--grace", "1s");
    assertEquals(cancel.code, 0, cancel.stderr);
    assert(gone(worker), "the worker still runs");
    // Nothing runs now: out of the default list, and removable.
    assertEquals(JSON.parse((await jobs(dir, "--json")).stdout).jobs, []);
    assertEquals((await jobs(dir, "rm", job.jobId)).code, 0);
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs restart re-runs an ended job as a new one that names it", async () => {
  const dir = await tempDir();
  const work = await tempDir();
  try {
    const first = await cli([
      "run",
      "-d",
      "--json",
      "--jobs-dir",
      dir,
      "--name",
      "counter",
      "--timeout",
      "5m",
      "--retry",
      "1",
      "--retry-delay",
      "10ms",
      "--log-max",
      "1MiB",
      "--on-end",
      "true",
      "--",
      "sh",
      "-c",
      // Each run waits for the test's go, so the first is surely running
      // when a restart of it is refused.
      "echo run >> runs; while [ ! -e go ]; do sleep 0.05; done; exit 4",
    ], { cwd: work });
    assertEquals(first.code, 0, first.stderr);
    const old = JSON.parse(first.stdout);
    const running = await jobs(dir, "restart", "counter");
    assertCliError(running, undefined, /it has not ended/);
    await Deno.writeTextFile(`${work}/go`, "");
    await jobs(dir, "wait", old.id);

    const again = await jobs(dir, "restart", "counter", "--json");
    assertEquals(again.code, 0, again.stderr);
    const job = JSON.parse(again.stdout);
    assert(job.id !== old.id);
    for (
      const key of [
        "command",
        "args",
        "working_dir",
        "timeout_ms",
        "grace_ms",
        "retries",
        "retry_delay_ms",
        "on_end",
        "log_max",
        "name",
      ]
    ) {
      assertEquals(job[key], old[key], key);
    }
    assertEquals(job.restart_of, old.id);
    // The name now names the new job.
    const w = await jobs(dir, "wait", "counter");
    assertEquals(w.code, 4, w.stderr);
    assert(w.stdout.startsWith(`Job ${job.id} failed`), w.stdout);
    // Two runs of two attempts each, in the same directory.
    assertEquals(await Deno.readTextFile(`${work}/runs`), "run\n".repeat(4));
    const shown = await jobs(dir, job.id);
    assert(shown.stdout.includes(`  Restart of:  ${old.id}\n`), shown.stdout);
    const text = await jobs(dir, "restart", job.id);
    assert(/^Started job \w+ \(PID \d+\): sh -c /.test(text.stdout));
    assert(text.stdout.includes(`\n  Re-runs: ${job.id}\n`), text.stdout);
    await jobs(dir, "wait", "counter");
    const ids = JSON.parse((await jobs(dir, "--all", "--json")).stdout).jobs
      .map((j: { id: string }) => j.id);
    for (const id of ids) await settled(dir, id);

    // A record epack's Go code wrote has no command line to run again.
    await Deno.copyFile(
      new URL("../../testdata/epack_completed.json", import.meta.url),
      `${dir}/job_01HQ3K4M5N6P7Q8R9S0T.json`,
    );
    assertCliError(
      await jobs(dir, "restart", "job_01HQ3K4M5N6P7Q8R9S0T"),
      undefined,
      /its record has no command line/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(work, { recursive: true });
  }
});

Deno.test("cancel, pause, resume and wait take several jobs; names are references everywhere", async () => {
  const dir = await tempDir();
  const ids: string[] = [];
  try {
    const a = await run(dir, "--name", "sleeper", "--", "sleep", "30");
    const b = await run(dir, "--", "sleep", "30");
    const c = await run(dir, "--after", "sleeper", "--", "true");
    ids.push(a.id, b.id, c.id);
    assertEquals(c.after, [a.id], "--after took the name");
    for (const id of [a.id, b.id]) {
      await until(dir, id, (j) => j.workerPid !== undefined);
    }
    const paused = await jobs(dir, "pause", "sleeper", b.id, "--json");
    assertEquals(paused.code, 0, paused.stderr);
    assertEquals(
      paused.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).status),
      ["paused", "paused"],
    );
    const resumed = await jobs(dir, "resume", b.id, "sleeper");
    assertEquals(resumed.code, 0, resumed.stderr);
    assertEquals(resumed.stdout.trimEnd().split("\n").length, 2);
    // One unknown reference: nothing is done, and the error says which.
    assertCliError(
      await jobs(dir, "cancel", "sleeper", "nosuchjob"),
      undefined,
      /^error: Job not found: nosuchjob in /,
    );
    assertEquals((await new FileJobStore(dir).load(a.id)).status, "running");
    // --timeout bounds the whole wait; the first job not completed decides.
    const early = await jobs(
      dir,
      "wait",
      b.id,
      "sleeper",
      "--timeout",
      "200ms",
    );
    assertEquals(early.code, WAIT_EXIT.WAIT_TIMEOUT, early.stderr);
    assertEquals(early.stderr.match(/^error: /gm)?.length, 2, early.stderr);
    const cancelled = await jobs(
      dir,
      "cancel",
      b.id,
      "sleeper",
      "--grace",
      "1s",
    );
    assertEquals(cancelled.code, 0, cancelled.stderr);
    assertEquals(
      cancelled.stdout,
      `Job ${b.id} cancelled\nJob ${a.id} cancelled\n`,
    );
    // c ran after sleeper ended: it completed. wait: 0 only if all did, else
    // the code of the first (in argument order) that did not.
    assertEquals((await jobs(dir, "wait", c.id)).code, 0);
    const all = await jobs(dir, "wait", c.id, b.id, "sleeper", "--json");
    assertEquals(all.code, WAIT_EXIT.CANCELLED, all.stderr);
    assertEquals(
      all.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).cli_exit_code),
      [0, WAIT_EXIT.CANCELLED, WAIT_EXIT.CANCELLED],
    );
    // A bad name is refused before anything is started.
    const bad = await cli([
      "run",
      "-d",
      "--jobs-dir",
      dir,
      "--name",
      "9lives",
      "--",
      "true",
    ]);
    assertCliError(bad, "run", /^error: --name: Invalid job name "9lives"/);
  } finally {
    for (const id of ids) await stopJob(dir, id);
    await Deno.remove(dir, { recursive: true });
  }
});

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}
