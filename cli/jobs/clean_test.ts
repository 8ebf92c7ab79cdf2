// Tests of `epack jobs clean`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import {
  assert,
  assertEquals,
  craftEnded,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs clean removes old ended jobs and never running ones", async () => {
  const dir = await tempDir();
  let running: Spawned | undefined;
  try {
    const store = new FileJobStore(dir);
    const day = 24 * 60 * 60 * 1000;
    const old = await craftEnded(store, { agoMs: 2 * day, exitCode: 1 });
    const recent = await craftEnded(store, { agoMs: 60_000 });
    running = await spawnJob(dir, "sleep", ["30"], { grace: 200 });
    await until(dir, running.jobId, (j) => j.supervisedAt !== undefined);
    // A job that has run for days is still not "old".
    await store.update(running.jobId, (j) => {
      j.startedAt = new Date(Date.now() - 3 * day);
      return j;
    });

    const r = await jobs(dir, "clean");
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "Removed 1 job that ended more than 1d ago.\n");
    const ids = async () => (await store.list()).jobs.map((j) => j.id).sort();
    assertEquals(await ids(), [recent.id, running.jobId].sort());
    await Deno.stat(old.logPath).then(
      () => assert(false, "the old log is still there"),
      () => {},
    );

    const c = await jobs(dir, "--clean", "--older-than", "30s", "--json");
    assertEquals(JSON.parse(c.stdout), { cleaned: 1, removed: [recent.id] });
    assertEquals(await ids(), [running.jobId]);
    assertEquals((await store.load(running.jobId)).status, "running");
  } finally {
    if (running) await stopJob(dir, running.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});
