// Tests of stopProcessGroup()'s `escalate` and of its checked grace, with
// real process groups and real signals. (Kept apart from timeout_test.ts,
// which another change edits at the same time; they may be merged.)

import assert from "node:assert/strict";
import { stopProcessGroup } from "../timeout.ts";
import { MAX_DURATION } from "../duration.ts";
import {
  groupMembers,
  markedProcesses,
  readProcess,
  signalProcess,
} from "../process/inspect.ts";
import { until } from "../testdata/spawn_helpers.ts";

/** A group whose members all ignore SIGTERM (the disposition is inherited). */
function stubbornGroup(): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", `trap "" TERM; sleep 60 & while :; do sleep 0.1; done`],
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

Deno.test("stopProcessGroup() sends SIGKILL as soon as `escalate` aborts, long before the grace ends", async () => {
  const leader = stubbornGroup();
  await until("the group", () => groupMembers(leader.pid)!.length >= 2);
  const escalate = new AbortController();
  const started = Date.now();
  setTimeout(() => escalate.abort(), 300);
  const result = await stopProcessGroup(leader.pid, {
    grace: 30 * 24 * 60 * 60 * 1000,
    escalate: escalate.signal,
  });
  const took = Date.now() - started;
  assert.equal(result.killed, true);
  assert.deepEqual(result.remaining, []);
  // Far below the 30-day grace: a generous bound for a loaded machine.
  assert.ok(took >= 290 && took < 20_000, `${took} ms`);
  await leader.status;
});

Deno.test("stopProcessGroup() with an already aborted `escalate` sends SIGTERM then SIGKILL at once", async () => {
  const leader = stubbornGroup();
  await until("the group", () => groupMembers(leader.pid)!.length >= 2);
  const started = Date.now();
  const result = await stopProcessGroup(leader.pid, {
    grace: 600_000,
    escalate: AbortSignal.abort(),
  });
  assert.equal(result.killed, true);
  assert.ok(Date.now() - started < 20_000);
  assert.deepEqual(groupMembers(leader.pid), []);
  await leader.status;
});

Deno.test("stopProcessGroup() refuses a grace that is not whole milliseconds in range, before signalling", async () => {
  const leader = stubbornGroup();
  try {
    await until("the group", () => groupMembers(leader.pid)!.length >= 2);
    for (const grace of [-1, 0.5, NaN, Infinity, MAX_DURATION + 1]) {
      await assert.rejects(
        () => stopProcessGroup(leader.pid, { grace }),
        RangeError,
        "Invalid grace",
      );
    }
    assert.ok(groupMembers(leader.pid)!.length >= 2, "nothing was signalled");
  } finally {
    Deno.kill(-leader.pid, "SIGKILL");
    await leader.status;
  }
});

/** The state letters of a group's live members (`T` for stopped). */
function states(pgid: number): string[] {
  const pids = groupMembers(pgid) ?? [];
  return pids.map((pid) => readProcess(pid)?.state ?? "?");
}

Deno.test("stopProcessGroup() ends a stopped (paused) group on SIGTERM: SIGCONT follows it, no SIGKILL needed", async () => {
  // Members that act on SIGTERM at once, then the whole group stopped as
  // `jobs pause` stops it.
  const leader = new Deno.Command("sh", {
    args: ["-c", `sleep 60 & while :; do sleep 0.1; done`],
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await until("the group", () => groupMembers(leader.pid)!.length >= 2);
    Deno.kill(-leader.pid, "SIGSTOP");
    await until("the group to stop", () => {
      const s = states(leader.pid);
      // A `sleep` that exited as its parent stopped stays a zombie (Z); a
      // shell stopped while it starts a command (dash uses vfork) waits for
      // its stopped child in state D.
      return s.length >= 2 && s.includes("T") &&
        s.every((c) => c === "T" || c === "Z" || c === "D");
    });
    const started = Date.now();
    const result = await stopProcessGroup(leader.pid, { grace: 20_000 });
    const took = Date.now() - started;
    assert.equal(result.killed, false, "SIGTERM alone ended it");
    assert.deepEqual(result.remaining, []);
    assert.ok(took < 15_000, `${took} ms: it waited for SIGKILL`);
    assert.deepEqual(groupMembers(leader.pid), []);
    assert.equal((await leader.status).signal, "SIGTERM");
  } finally {
    try {
      Deno.kill(-leader.pid, "SIGKILL");
    } catch {
      // Gone, as it should be.
    }
    await leader.status;
  }
});

Deno.test("stopProcessGroup() continues a stopped process that left the group, so it ends on SIGTERM too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_" });
  const id = `stopped_escape_${Deno.pid}`;
  const mark = `EPACK_DETACH_JOB_ID=${id}`;
  const pidFile = `${dir}/escaped.pid`;
  const leader = new Deno.Command("sh", {
    args: [
      "-c",
      `setsid sh -c 'echo $$ > ${pidFile}; while :; do sleep 0.1; done' & while :; do sleep 0.1; done`,
    ],
    env: { EPACK_DETACH_JOB_ID: id },
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const escaped = Number(
      await until("the escaped process", async () => {
        const text = await Deno.readTextFile(pidFile).catch(() => "");
        const pid = Number(text.trim());
        return pid > 0 && readProcess(pid)?.pgid === pid ? text : undefined;
      }),
    );
    Deno.kill(-leader.pid, "SIGSTOP");
    Deno.kill(-escaped, "SIGSTOP");
    await until("the escaped group to stop", () => {
      const s = states(escaped);
      // A shell stopped as it starts a command (dash's vfork) shows D.
      return s.includes("T") &&
        s.every((c) => c === "T" || c === "Z" || c === "D");
    });
    const started = Date.now();
    const result = await stopProcessGroup(leader.pid, { grace: 20_000, mark });
    const took = Date.now() - started;
    assert.equal(result.killed, false, "SIGTERM alone ended it");
    assert.deepEqual(result.remaining, []);
    assert.ok(result.escaped?.includes(escaped));
    assert.ok(took < 15_000, `${took} ms: it waited for SIGKILL`);
    assert.deepEqual(markedProcesses(mark), []);
  } finally {
    for (const p of markedProcesses(mark) ?? []) {
      signalProcess(p.pid, "SIGKILL");
    }
    await leader.status;
    await Deno.remove(dir, { recursive: true });
  }
});
