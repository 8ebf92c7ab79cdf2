// Tests of the stop policy (TERM, grace, KILL) and of long timers, with real
// process groups and real signals.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_KILL_GRACE,
  scheduleTimeout,
  stopProcessGroup,
} from "./timeout.ts";
import { groupMembers } from "./_process.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";
import { alive, finalJob, mustSpawn, until } from "./testdata/spawn_helpers.ts";

Deno.test("a timeout stops the worker and its grandchild, leaving no process of the group", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "grandchild.pid");
    const { jobId } = await mustSpawn({
      program: "sh",
      // The grandchild ignores SIGTERM, so the escalation to SIGKILL is
      // needed to end it.
      args: [
        "-c",
        `sh -c 'trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done' & wait`,
      ],
      jobsDir: dir,
      timeout: 700,
      grace: 400,
    });
    const grandchild = Number(
      await until("the grandchild", async () => {
        const text = await Deno.readTextFile(pidFile).catch(() => "");
        return text.trim() || undefined;
      }),
    );
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "timed_out");
    assert.match(job.error ?? "", /timeout of 700ms/);
    assert.match(job.error ?? "", /SIGKILL/);
    assert.deepEqual(groupMembers(job.workerPid!), []);
    assert.ok(!alive(grandchild), "the grandchild is gone");
  });
});

/** Starts `sh -c script` as the leader of its own process group. */
function group(script: string): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", script],
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("stopProcessGroup() ends a group on SIGTERM when it obeys", async () => {
  const leader = group("sleep 30 & sleep 30 & wait");
  await until("both children", () => groupMembers(leader.pid)!.length === 3);
  const started = Date.now();
  const result = await stopProcessGroup(leader.pid, { grace: 5_000 });
  assert.deepEqual(result, { killed: false, remaining: [] });
  assert.ok(Date.now() - started < 4_000, "no need to wait out the grace");
  assert.deepEqual(groupMembers(leader.pid), []);
  await leader.status;
});

Deno.test("stopProcessGroup() sends SIGKILL after the grace period to what ignores SIGTERM", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "stubborn.pid");
    const leader = group(
      `sh -c 'trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done' & wait`,
    );
    const stubborn = Number(
      await until("the stubborn child", async () => {
        const text = await Deno.readTextFile(pidFile).catch(() => "");
        return text.trim() || undefined;
      }),
    );
    const started = Date.now();
    const result = await stopProcessGroup(leader.pid, { grace: 400 });
    assert.equal(result.killed, true);
    assert.deepEqual(result.remaining, []);
    assert.ok(Date.now() - started >= 400, "the grace period was given");
    assert.ok(!alive(stubborn));
    await leader.status;
  });
});

Deno.test("stopProcessGroup() of a gone group does nothing, and refuses a bad group ID", async () => {
  const leader = group("exit 0");
  await leader.status;
  assert.deepEqual(await stopProcessGroup(leader.pid), {
    killed: false,
    remaining: [],
  });
  await assert.rejects(() => stopProcessGroup(1), RangeError);
  assert.equal(DEFAULT_KILL_GRACE, 10_000);
});

Deno.test("scheduleTimeout() calls once, can be cancelled, and schedules nothing for no time", async (t) => {
  await t.step("calls once after the delay", async () => {
    let calls = 0;
    const started = Date.now();
    await new Promise<void>((resolve) => {
      scheduleTimeout(50, () => {
        calls++;
        resolve();
      });
    });
    assert.ok(Date.now() - started >= 45);
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(calls, 1);
  });
  await t.step("disposing cancels the call", async () => {
    let called = false;
    {
      using _timer = scheduleTimeout(30, () => called = true);
    }
    await new Promise((r) => setTimeout(r, 80));
    assert.equal(called, false);
  });
  await t.step("0, negative, NaN and Infinity schedule nothing", async () => {
    let called = false;
    for (const ms of [0, -1, NaN, Infinity]) {
      scheduleTimeout(ms, () => called = true);
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(called, false);
  });
  await t.step("30 days does not fire early", async () => {
    let called = false;
    const timer = scheduleTimeout(30 * 24 * 60 * 60 * 1000, () => {
      called = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    timer[Symbol.dispose]();
    assert.equal(called, false);
  });
});
