// Tests of process inspection and group signalling, with real processes.
// They run under whichever inspector is chosen (/proc under -A on Linux);
// `deno task test:ps` runs them again with `ps` forced. The `ps` parsers
// are also tested on recorded procps and BSD (macOS) output.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  chooseInspector,
  groupAlive,
  groupMembers,
  hasEnvEntry,
  identifyGroup,
  isEnded,
  markedProcesses,
  parseStat,
  type ProcessInfo,
  type ProcessInspector,
  processInspector,
  ProcFsInspector,
  readProcess,
  setProcessInspector,
  signalGroup,
  signalProcess,
} from "./inspect.ts";
import { PsInspector } from "./ps.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";

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
    const { startTicks: ticks, startTime: time } = readProcess(leader.pid)!;
    const stamp = { ticks, time };
    await leader.status;
    const child = Number(await Deno.readTextFile(pidFile));
    try {
      assert.equal(readProcess(leader.pid), undefined, "the leader is gone");
      const found = identifyGroup(
        leader.pid,
        stamp,
        "EPACK_DETACH_JOB_ID=job_mark",
      );
      assert.deepEqual(found?.map((p) => p.pid), [child]);
      // Without the leader, its PID may lead a stranger's session by now:
      // no mark, or another job's mark, claims nothing.
      assert.equal(identifyGroup(leader.pid, stamp), undefined);
      assert.equal(
        identifyGroup(leader.pid, stamp, "EPACK_DETACH_JOB_ID=other"),
        undefined,
      );
      // Members that started before the recorded worker are not the job's.
      const later = {
        ticks: stamp.ticks === undefined ? undefined : stamp.ticks + 10_000,
        time: stamp.time! + 100,
      };
      assert.equal(
        identifyGroup(leader.pid, later, "EPACK_DETACH_JOB_ID=job_mark"),
        undefined,
      );
      // Nothing recorded of the start: the mark alone decides.
      assert.deepEqual(
        identifyGroup(leader.pid, undefined, "EPACK_DETACH_JOB_ID=job_mark")
          ?.map((p) => p.pid),
        [child],
      );
      assert.equal(identifyGroup(leader.pid, undefined), undefined);
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
  const info = parseStat(`4242 (a b) (c)) ${fields.join(" ")}\n`, 1_000);
  assert.deepEqual(info, {
    pid: 4242,
    state: "S",
    pgid: 77,
    sid: 78,
    startTicks: 123456,
    startTime: 1_000 + 1234,
  });
  assert.equal(parseStat("garbage"), undefined);
});

Deno.test("readProcess() and groupMembers() see this process, and never a process that has ended", async () => {
  const self = readProcess(Deno.pid);
  assert.ok(
    self !== undefined,
    `${processInspector().kind} reads this process`,
  );
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
  const info = (pid: number, startTime: number) => ({
    pid,
    state: "S",
    pgid: 500,
    sid: 500,
    startTime,
  });
  const fake: ProcessInspector = {
    kind: "fake",
    processes: (pids) =>
      [info(500, 9), info(501, 10)].filter((p) =>
        pids?.includes(p.pid) ?? true
      ),
    carrying: () => new Set(),
    problem: () => undefined,
  };
  setProcessInspector(fake);
  try {
    assert.equal(processInspector(), fake);
    assert.deepEqual(groupMembers(500), [500, 501]);
    assert.equal(readProcess(501)?.startTime, 10);
    assert.deepEqual(
      identifyGroup(500, { time: 9 })?.map((p) => p.pid),
      [500, 501],
    );
    assert.equal(identifyGroup(500, { time: 8 }), undefined, "another start");
    // Ticks recorded, seconds read: not comparable, and no mark to go by.
    assert.equal(identifyGroup(500, 1234), undefined);
  } finally {
    setProcessInspector(undefined);
  }
  assert.notEqual(processInspector(), fake);
});

Deno.test("the inspector is /proc where it can be read, else ps, unless one is forced", () => {
  assert.ok(chooseInspector("ps") instanceof PsInspector);
  assert.ok(chooseInspector("proc") instanceof ProcFsInspector);
  // Under -A on Linux, /proc can be read.
  const auto = chooseInspector();
  assert.equal(auto.kind, Deno.build.os === "linux" ? "proc" : "ps");
  assert.throws(() => chooseInspector("procfs"), TypeError);
});

Deno.test("both inspectors see the same processes, the same way", async () => {
  const child = new Deno.Command("sh", {
    args: ["-c", "sleep 30 & wait"],
    env: { EPACK_DETACH_JOB_ID: "both_mark" },
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const proc = new ProcFsInspector();
    const ps = new PsInspector();
    await until(() =>
      proc.processes()!.filter((p) => p.pgid === child.pid).length === 2
    );
    const byPid = (list: ProcessInfo[]) => list.sort((a, b) => a.pid - b.pid);
    const fromProc = byPid(
      proc.processes()!.filter((p) => p.pgid === child.pid),
    ).map(({ startTicks: _, ...rest }) => rest);
    const fromPs = byPid(ps.processes()!.filter((p) => p.pgid === child.pid));
    // The state may change between two looks (S, then R for a moment).
    for (const p of [...fromProc, ...fromPs]) {
      p.state = p.state === "Z" ? "Z" : "live";
    }
    assert.deepEqual(fromPs, fromProc);
    const pids = fromProc.map((p) => p.pid);
    assert.deepEqual(
      [...ps.carrying("EPACK_DETACH_JOB_ID=both_mark")!].sort(),
      [...proc.carrying("EPACK_DETACH_JOB_ID=both_mark")!].sort(),
    );
    assert.deepEqual(
      [...ps.carrying("EPACK_DETACH_JOB_ID=both_mark", pids)!].sort(),
      pids.map(Number).sort(),
    );
    assert.deepEqual(ps.processes([999_999_999]), []);
  } finally {
    signalGroup(child.pid, "SIGKILL");
    await child.status;
  }
});

Deno.test("markedProcesses() finds a process that left the group with setsid", async () => {
  await withTempDir(async (dir) => {
    const id = `setsid_${Deno.pid}`;
    const mark = `EPACK_DETACH_JOB_ID=${id}`;
    const pidFile = join(dir, "escaped.pid");
    const leader = new Deno.Command("sh", {
      args: ["-c", `setsid sh -c 'echo $$ > ${pidFile}; exec sleep 30' &`],
      env: { EPACK_DETACH_JOB_ID: id },
      detached: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    await leader.status;
    let escaped = 0;
    await until(() => {
      escaped = Number(Deno.readTextFileSync(pidFile).trim() || 0);
      return escaped > 0 && readProcess(escaped)?.pgid === escaped;
    });
    try {
      assert.equal(hasEnvEntry(escaped, mark), true);
      assert.equal(hasEnvEntry(escaped, mark + "x"), false);
      assert.deepEqual(markedProcesses(mark)?.map((p) => p.pid), [escaped]);
      assert.deepEqual(groupMembers(leader.pid), [], "it left the group");
    } finally {
      signalProcess(escaped, "SIGKILL");
    }
    await until(() => markedProcesses(mark)?.length === 0);
  });
});

async function until(fn: () => boolean): Promise<void> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      if (fn()) return;
    } catch {
      // Not there yet (a file being written).
    }
    if (Date.now() > end) throw new Error("Timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("identifyGroup() by the mark alone is not fooled by members that come and go", async (t) => {
  // Short-lived members end between the listing of the group and the look
  // at their environments (ps runs twice); that must not make the group
  // look like a stranger's. A member that stays without the mark must.
  for (const inspector of [new ProcFsInspector(), new PsInspector()]) {
    await t.step(inspector.kind, async () => {
      setProcessInspector(inspector);
      const child = new Deno.Command("sh", {
        args: ["-c", "while :; do sleep 0.01; done"],
        env: { EPACK_DETACH_JOB_ID: "churn_mark" },
        detached: true,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        await until(() => (groupMembers(child.pid) ?? []).length > 0);
        for (let i = 0; i < 20; i++) {
          const left = identifyGroup(
            child.pid,
            undefined,
            "EPACK_DETACH_JOB_ID=churn_mark",
          );
          assert.ok(left !== undefined, `look ${i}: the job's own group`);
          assert.ok(left.some((p) => p.pid === child.pid));
        }
        assert.equal(
          identifyGroup(child.pid, undefined, "EPACK_DETACH_JOB_ID=other"),
          undefined,
          "the leader stays and lacks that mark",
        );
      } finally {
        setProcessInspector(undefined);
        signalGroup(child.pid, "SIGKILL");
        await child.status;
      }
    });
  }
});
