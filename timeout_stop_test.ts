// Tests of stopProcessGroup()'s `escalate` and of its checked grace, with
// real process groups and real signals. (Kept apart from timeout_test.ts,
// which another change edits at the same time; they may be merged.)

import assert from "node:assert/strict";
import { stopProcessGroup } from "./timeout.ts";
import { MAX_DURATION } from "./duration.ts";
import { groupMembers } from "./_process.ts";
import { until } from "./testdata/spawn_helpers.ts";

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
  assert.ok(took >= 290 && took < 3_000, `${took} ms`);
  await leader.status;
});

Deno.test("stopProcessGroup() with an already aborted `escalate` sends SIGTERM then SIGKILL at once", async () => {
  const leader = stubbornGroup();
  await until("the group", () => groupMembers(leader.pid)!.length >= 2);
  const started = Date.now();
  const result = await stopProcessGroup(leader.pid, {
    grace: 10_000,
    escalate: AbortSignal.abort(),
  });
  assert.equal(result.killed, true);
  assert.ok(Date.now() - started < 3_000);
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
