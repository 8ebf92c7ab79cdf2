// pause() and resume() on a PostgreSQL store: a job of this host is paused
// through the store's update like on a jobs directory; a job of another
// host is refused (signals cannot reach it), its record untouched.

import { removeSettled } from "../testdata/poll.ts";
import assert from "node:assert/strict";
import { cancel, pause, resume, waitForJob } from "../control.ts";
import { openStore } from "../store.ts";
import { HOST_ENV } from "../store/env.ts";
import { readProcess } from "../process/inspect.ts";
import { startCluster } from "../testdata/pg_cluster.ts";
import { until } from "../testdata/spawn_helpers.ts";

async function startAs(host: string, url: string, dir: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../testdata/pg_spawn.ts", import.meta.url).pathname,
      url,
      "sleep 300",
    ],
    cwd: dir,
    // The hosts share this user's state directory, where their logs go:
    // the test's own.
    env: { [HOST_ENV]: host, XDG_STATE_HOME: dir },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("pause() and resume() on a PostgreSQL store: this host's job is paused, another host's is refused", async () => {
  Deno.env.set(HOST_ENV, "host-b");
  await using cluster = await startCluster();
  const dir = await Deno.makeTempDir({ prefix: "detach_pgpause_" });
  const url = `${cluster.url}?epack_lease_ttl=3000&epack_renew_every=1000` +
    `&epack_log_dir=${encodeURIComponent(`${dir}/epack/logs`)}`;
  const workers: number[] = [];
  const ids: string[] = [];
  try {
    await using store = await openStore(url);
    const here = await startAs("host-b", url, dir);
    const away = await startAs("host-a", url, dir);
    ids.push(here, away);
    for (const id of [here, away]) {
      // Another host's worker reaches the row at a renewal pass, which a
      // loaded machine may start late.
      const j = await until("the worker", async () => {
        const job = await store.load(id);
        return job.workerPid !== undefined ? job : undefined;
      }, 60_000);
      workers.push(j.workerPid!);
    }

    const paused = await pause(here, { store: url });
    assert.equal(paused.outcome, "paused", paused.message);
    assert.equal((await store.loadRecorded(here)).status, "paused");
    await until(
      "the worker to stop",
      () => readProcess(workers[0])?.state === "T",
    );
    const resumed = await resume(here, { store: url });
    assert.equal(resumed.outcome, "resumed");
    assert.equal((await store.loadRecorded(here)).status, "running");
    await pause(here, { store: url });
    const done = await cancel(here, { store: url, grace: 5_000 });
    assert.equal(done.outcome, "cancelled", done.message);

    const before = await store.loadRecorded(away);
    await assert.rejects(
      () => pause(away, { store: url }),
      Error,
      "runs on host host-a: a pause is a signal",
    );
    assert.deepEqual(await store.loadRecorded(away), before);
    assert.notEqual(readProcess(workers[1])?.state, "T");
  } finally {
    for (const pid of workers) {
      try {
        Deno.kill(-pid, "SIGKILL");
      } catch {
        // Gone.
      }
    }
    // Their supervisors record the ends while the server is still there,
    // and exit: none is left behind.
    for (const id of ids) {
      await waitForJob(id, { store: url, timeout: 20_000 }).catch(() => {});
    }
    Deno.env.delete(HOST_ENV);
    await removeSettled(dir);
  }
});
