// Tests of `epack jobs pause` and `epack jobs resume`: the real CLI, run as a
// subprocess, against a real job that counts in a file.

import { join } from "node:path";
import { FileJobStore } from "../../jobs.ts";
import { readProcess } from "../../process/inspect.ts";
import {
  assert,
  assertEquals,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";
import { until as poll } from "../../testdata/poll.ts";

/** The counter's value; polled for until the file is first written. */
async function count(file: string): Promise<number> {
  return await poll(
    `${file} to hold a counter`,
    async () => {
      const n = parseInt(await Deno.readTextFile(file).catch(() => ""), 10);
      return Number.isNaN(n) ? undefined : n;
    },
    2_000,
    5,
  );
}

/** An observation window: the time itself is what is tested. */
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("jobs pause stops a running job, jobs resume lets it go on, and both say what they did", async () => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    const file = join(dir, "count");
    job = await spawnJob(dir, "sh", [
      "-c",
      // By rename: stopped half-way, a truncated file would stay empty.
      `i=0; while :; do i=$((i+1)); echo $i > ${file}.t; mv -f ${file}.t ${file}; sleep 0.05; done`,
    ], { timeout: 30 * 60_000, grace: 500 });
    const running = await until(
      dir,
      job.jobId,
      (j) => j.workerPid !== undefined,
    );
    const pgid = running.workerPid!;
    await count(file);

    const p = await jobs(dir, "pause", job.jobId);
    assertEquals(p.code, 0, p.stderr);
    assert(
      new RegExp(
        `^Paused job ${job.jobId} \\(SIGSTOP to process group ${pgid}\\)\\. Its timeout keeps counting: (29m\\d+s|30m) left\\.\\n$`,
      ).test(p.stdout),
      p.stdout,
    );
    // pause() waits for the group to show as stopped, but at most a second:
    // on a loaded machine the test waits longer.
    // D counts too: dash starts a command with vfork(), and a child stopped
    // between vfork() and exec leaves the shell in the vfork wait (state D)
    // for as long as the child is stopped. The counter below is what says
    // the job stands still.
    // Said with what was seen, so that a failure here can be read.
    let seen: string | undefined;
    let counted = 0;
    await poll(
      () => `the worker to stop (state ${seen}, counter ${counted})`,
      async () => {
        seen = readProcess(pgid)?.state;
        counted = await count(file);
        return seen === "T" || seen === "D";
      },
      10_000,
    );
    const a = await count(file);
    await sleep(300);
    assertEquals(await count(file), a, "the counter moved while paused");

    // `jobs` lists a paused job among the running ones, with its status.
    const list = await jobs(dir);
    assertEquals(list.code, 0, list.stderr);
    assert(
      new RegExp(`${job.jobId}\\s+paused\\s`).test(list.stdout),
      list.stdout,
    );

    const again = await jobs(dir, "pause", job.jobId, "--json");
    assertEquals(again.code, 0, again.stderr);
    const doc = JSON.parse(again.stdout);
    assertEquals(doc.outcome, "already-paused");
    assertEquals([doc.id, doc.status], [job.jobId, "paused"]);
    assert(typeof doc.paused_at === "string", again.stdout);
    assert(doc.timeout_left_ms > 29 * 60_000, again.stdout);

    const r = await jobs(dir, "resume", job.jobId, "--json");
    assertEquals(r.code, 0, r.stderr);
    const resumed = JSON.parse(r.stdout);
    assertEquals(resumed.outcome, "resumed");
    assertEquals(resumed.status, "running");
    assertEquals(resumed.paused_at, undefined);
    assert(/^Resumed job .* after \d+s paused\./.test(resumed.message));
    const b = await count(file);
    await poll(
      "the counter to move after resume",
      async () => (await count(file)) > b + 2,
      10_000,
    );

    const twice = await jobs(dir, "resume", job.jobId);
    assertEquals(twice.code, 0, twice.stderr);
    assertEquals(
      twice.stdout,
      `Job ${job.jobId} is not paused (running); nothing to resume\n`,
    );

    // Paused again, then cancelled: it ends cancelled within its grace.
    assertEquals((await jobs(dir, "pause", job.jobId)).code, 0);
    const c = await jobs(dir, "cancel", job.jobId);
    assertEquals(c.code, 0, c.stderr);
    assertEquals(c.stdout, `Job ${job.jobId} cancelled\n`);
    assertEquals(
      (await new FileJobStore(dir).load(job.jobId)).status,
      "cancelled",
    );

    // An ended job: refused, exit 1, the status said.
    const ended = await jobs(dir, "pause", job.jobId);
    assertEquals(ended.code, 1);
    assertEquals(
      ended.stderr,
      `error: Job ${job.jobId} has ended (cancelled); nothing to pause\n`,
    );
    const endedJson = await jobs(dir, "resume", job.jobId, "--json");
    assertEquals(endedJson.code, 1);
    const err = JSON.parse(endedJson.stdout);
    assertEquals(err.status, "cancelled");
    assertEquals(err.id, job.jobId);
    assertEquals(err.exit_code, 1);
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs pause and resume: help, and usage errors", async () => {
  const dir = await tempDir();
  try {
    for (const sub of ["pause", "resume"]) {
      const h = await jobs(dir, sub, "--help");
      assertEquals(h.code, 0, h.stderr);
      assert(h.stdout.includes(`epack jobs ${sub} <job>...`), h.stdout);
      assert(h.stdout.includes("Exit codes:"), h.stdout);
      const missing = await jobs(dir, sub);
      assertEquals(missing.code, 1);
      assert(/error: Missing a job/.test(missing.stderr), missing.stderr);
    }
    const top = await jobs(dir, "--help");
    assert(/epack jobs pause <job>\.\.\./.test(top.stdout), top.stdout);
    assert(/epack jobs resume <job>\.\.\./.test(top.stdout), top.stdout);
    // A record with no process yet (queued): nothing to pause.
    const store = new FileJobStore(dir);
    const q = await store.create({ command: "x" });
    await store.update(q.id, (j) => ({ ...j, status: "queued" }));
    const r = await jobs(dir, "pause", q.id);
    assertEquals(r.code, 1);
    assert(
      /is queued: it has not started, so there is nothing to pause yet/.test(
        r.stderr,
      ),
      r.stderr,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
