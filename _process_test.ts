// Tests of process inspection (/proc) and group signalling, with real
// processes.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  groupAlive,
  groupMembers,
  identifyGroup,
  isEnded,
  parseStat,
  type ProcessInspector,
  processInspector,
  readProcess,
  setProcessInspector,
  signalGroup,
} from "./_process.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";

Deno.test("identifyGroup() claims a group that lost its leader only by the job's mark", async () => {
  await withTempDir(async (dir) => {
    const pidFile = join(dir, "child.pid");
    // The leader starts a background child and exits; this test reaps it,
    // so the group is left without a leader, as under an init that reaps.
    const leader = new Deno.Command("sh", {
      args: ["-c", `sleep 30 & echo $! > ${pidFile}`],
      env: { EPACK_DETACH_JOB_ID: "job_mark" },
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const ticks = readProcess(leader.pid)!.startTicks;
    await leader.status;
    const child = Number(await Deno.readTextFile(pidFile));
    try {
      assert.equal(readProcess(leader.pid), undefined, "the leader is gone");
      const found = identifyGroup(
        leader.pid,
        ticks,
        "EPACK_DETACH_JOB_ID=job_mark",
      );
      assert.deepEqual(found?.map((p) => p.pid), [child]);
      // Without the leader, its PID may lead a stranger's session by now:
      // no mark, or another job's mark, claims nothing.
      assert.equal(identifyGroup(leader.pid, ticks), undefined);
      assert.equal(
        identifyGroup(leader.pid, ticks, "EPACK_DETACH_JOB_ID=other"),
        undefined,
      );
      // Members that started before the recorded worker are not the job's.
      assert.equal(
        identifyGroup(
          leader.pid,
          ticks + 10_000_000,
          "EPACK_DETACH_JOB_ID=job_mark",
        ),
        undefined,
      );
    } finally {
      Deno.kill(child, "SIGKILL");
    }
  });
});

Deno.test("parseStat() reads a command name holding spaces and parentheses", () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S"; // state
  fields[2] = "77"; // pgid
  fields[3] = "78"; // sid
  fields[19] = "123456"; // start time
  const info = parseStat(`4242 (a b) (c)) ${fields.join(" ")}\n`);
  assert.deepEqual(info, {
    pid: 4242,
    state: "S",
    pgid: 77,
    sid: 78,
    startTicks: 123456,
  });
  assert.equal(parseStat("garbage"), undefined);
});

Deno.test("readProcess() and groupMembers() see this process, and never a process that has ended", async () => {
  const self = readProcess(Deno.pid);
  assert.ok(self !== undefined, "/proc is readable under -A on Linux");
  assert.equal(self.pid, Deno.pid);
  assert.ok(!isEnded(self));
  assert.ok(groupMembers(self.pgid)?.includes(Deno.pid));

  // A group whose leader exits at once, leaving a short-lived child to an
  // init that may never reap it (a zombie then): ended either way.
  const leader = new Deno.Command("sh", {
    args: ["-c", "sleep 1 >/dev/null & echo $!"],
    detached: true,
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const out = await leader.output();
  const child = Number(new TextDecoder().decode(out.stdout).trim());
  assert.deepEqual(groupMembers(leader.pid), [child]);
  assert.ok(await groupAlive(leader.pid));
  const end = Date.now() + 10_000;
  while (Date.now() < end && groupMembers(leader.pid)!.length > 0) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.deepEqual(groupMembers(leader.pid), []);
  assert.equal(await groupAlive(leader.pid), false);
  const info = readProcess(child);
  assert.ok(info === undefined || isEnded(info), "reaped, or a zombie");
});

Deno.test("signalGroup() refuses PIDs that would reach other groups, and reports a gone group", async () => {
  for (const bad of [0, 1, -5, 1.5, NaN]) {
    assert.throws(() => signalGroup(bad, "SIGTERM"), RangeError);
  }
  const p = new Deno.Command("sleep", {
    args: ["30"],
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  assert.equal(signalGroup(p.pid, "SIGTERM"), true);
  assert.equal((await p.status).signal, "SIGTERM");
  assert.equal(signalGroup(p.pid, "SIGTERM"), false);
});

Deno.test("a second ProcessInspector plugs in without touching callers", () => {
  const fake: ProcessInspector = {
    process: (pid) =>
      pid === 500
        ? { pid, state: "S", pgid: 500, sid: 500, startTicks: 9 }
        : undefined,
    groupProcesses: (pgid) =>
      pgid === 500
        ? [
          { pid: 500, state: "S", pgid: 500, sid: 500, startTicks: 9 },
          { pid: 501, state: "S", pgid: 500, sid: 500, startTicks: 10 },
        ]
        : [],
    hasEnvEntry: () => false,
  };
  const original = processInspector();
  setProcessInspector(fake);
  try {
    assert.equal(processInspector(), fake);
    assert.deepEqual(groupMembers(500), [500, 501]);
    assert.deepEqual(identifyGroup(500, 9)?.map((p) => p.pid), [500, 501]);
    assert.equal(identifyGroup(500, 8), undefined, "another start time");
  } finally {
    setProcessInspector(undefined);
  }
  assert.notEqual(processInspector(), fake);
  assert.equal(
    processInspector().process(Deno.pid)?.pid,
    original.process(Deno.pid)?.pid,
  );
});
