// Tests of the stop policy (TERM, grace, KILL) and of long timers, with real
// process groups and real signals.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  DEFAULT_KILL_GRACE,
  scheduleTimeout,
  stopProcessGroup,
} from "./timeout.ts";
import {
  groupMembers,
  markedProcesses,
  readProcess,
  signalProcess,
} from "./process/inspect.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";
import { alive, finalJob, mustSpawn, until } from "./testdata/spawn_helpers.ts";

Deno.test("a timeout stops the worker and its grandchild, leaving no process of the group", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "grandchild.pid");
    const { jobId } = await mustSpawn({
      command: "sh",
      // The grandchild ignores SIGTERM, so the escalation to SIGKILL is
      // needed to end it.
      args: [
        "-c",
        `sh -c 'trap "" TERM; echo $$ > ${pidFile}; while :; do sleep 0.1; done' & wait`,
      ],
      store: dir,
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
  const leader = group("sleep 300 & sleep 300 & wait");
  await until("both children", () => groupMembers(leader.pid)!.length === 3);
  const started = Date.now();
  const result = await stopProcessGroup(leader.pid, { grace: 120_000 });
  assert.deepEqual(result, { killed: false, remaining: [] });
  assert.ok(Date.now() - started < 60_000, "no need to wait out the grace");
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

/**
 * Starts a group whose child calls `setsid`, leaving the group with the
 * mark in its environment; `trapTerm` makes it ignore SIGTERM. Returns the
 * leader and the escaped process's PID.
 */
async function groupWithEscapee(
  dir: string,
  id: string,
  trapTerm = false,
): Promise<{ leader: Deno.ChildProcess; escaped: number }> {
  const pidFile = join(dir, "escaped.pid");
  const trap = trapTerm ? `trap "" TERM; ` : "";
  const leader = new Deno.Command("sh", {
    args: [
      "-c",
      `setsid sh -c '${trap}echo $$ > ${pidFile}; sleep 300 & wait' & sleep 300 & wait`,
    ],
    env: { EPACK_DETACH_JOB_ID: id },
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const escaped = Number(
    await until("the escaped process", async () => {
      const text = await Deno.readTextFile(pidFile).catch(() => "");
      const pid = Number(text.trim());
      return pid > 0 && readProcess(pid)?.pgid === pid ? text : undefined;
    }),
  );
  return { leader, escaped };
}

Deno.test("stopProcessGroup() with the job's mark also stops what left the group with setsid", async () => {
  await withTempDir(async (dir) => {
    const id = `escape_${Deno.pid}_1`;
    const mark = `EPACK_DETACH_JOB_ID=${id}`;
    const { leader, escaped } = await groupWithEscapee(dir, id);
    try {
      // The escaped shell and its sleep: both carry the mark.
      await until(
        "both escaped processes",
        () =>
          markedProcesses(mark)!.filter((p) => p.pgid === escaped).length === 2,
      );
      const result = await stopProcessGroup(leader.pid, { grace: 2_000, mark });
      assert.equal(result.killed, false);
      assert.deepEqual(result.remaining, []);
      assert.equal(result.escaped?.length, 2);
      assert.ok(result.escaped?.includes(escaped));
      assert.deepEqual(markedProcesses(mark), []);
      assert.ok(!alive(escaped));
    } finally {
      for (const p of markedProcesses(mark) ?? []) {
        signalProcess(p.pid, "SIGKILL");
      }
    }
    await leader.status;
  });
});

Deno.test("stopProcessGroup() kills a marked escapee that ignores SIGTERM after the grace", async () => {
  await withTempDir(async (dir) => {
    const id = `escape_${Deno.pid}_2`;
    const mark = `EPACK_DETACH_JOB_ID=${id}`;
    const { leader, escaped } = await groupWithEscapee(dir, id, true);
    try {
      const started = Date.now();
      const result = await stopProcessGroup(leader.pid, { grace: 400, mark });
      assert.ok(Date.now() - started >= 400, "the grace period was given");
      assert.equal(result.killed, true);
      assert.deepEqual(result.remaining, []);
      assert.ok(result.escaped?.includes(escaped));
      assert.ok(!alive(escaped));
      assert.deepEqual(markedProcesses(mark), []);
    } finally {
      for (const p of markedProcesses(mark) ?? []) {
        signalProcess(p.pid, "SIGKILL");
      }
    }
    await leader.status;
  });
});

Deno.test("stopProcessGroup() without a mark leaves what left the group, and says it did not look", async () => {
  await withTempDir(async (dir) => {
    const id = `escape_${Deno.pid}_3`;
    const mark = `EPACK_DETACH_JOB_ID=${id}`;
    const { leader, escaped } = await groupWithEscapee(dir, id);
    try {
      const result = await stopProcessGroup(leader.pid, { grace: 2_000 });
      assert.equal(result.escaped, undefined, "not looked for");
      assert.deepEqual(result, { killed: false, remaining: [] });
      assert.ok(alive(escaped), "the escapee is not the group's");
    } finally {
      for (const p of markedProcesses(mark) ?? []) {
        signalProcess(p.pid, "SIGKILL");
      }
    }
    await leader.status;
  });
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
