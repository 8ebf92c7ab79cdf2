// The signals nobody means as a stop, sent to a real supervisor: SIGUSR1
// must not open Deno's inspector (an unauthenticated debugger on
// 127.0.0.1:9229), and SIGUSR2, SIGQUIT, SIGALRM, SIGVTALRM and SIGPROF must
// not end it. The job runs on and its real end is recorded.

import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { FileJobStore } from "../jobs.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import {
  alive,
  DENO,
  finalJob,
  mustSpawn,
  until,
} from "../testdata/spawn_helpers.ts";
import { QUIET_SIGNALS, signalNumber } from "../process/signals.ts";
import { SUPERVISE_ARG } from "../spawn/launch.ts";

const AFTER_GRACE = ["SIGUSR2", "SIGQUIT", "SIGALRM", "SIGVTALRM", "SIGPROF"];

/** A worker that runs until `trigger` exists. */
function untilFile(trigger: string): { command: string; args: string[] } {
  return {
    command: "sh",
    args: ["-c", `while [ ! -e '${trigger}' ]; do sleep 0.05; done`],
  };
}

/** Whether `pid` listens on TCP port 9229 (0x240D), as Deno's inspector. */
function listensOnInspectorPort(pid: number): boolean {
  const sockets = new Set<string>();
  for (const entry of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const link = Deno.readLinkSync(`/proc/${pid}/fd/${entry.name}`);
      const m = /^socket:\[(\d+)\]$/.exec(link);
      if (m) sockets.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    for (const line of Deno.readTextFileSync(table).split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      // local address, state 0A (LISTEN), inode.
      if (f[1]?.endsWith(":240D") && f[3] === "0A" && sockets.has(f[9])) {
        return true;
      }
    }
  }
  return false;
}

/** The signals blocked, or pending, for `pid` (/proc's SigBlk, SigPnd). */
function signalSet(pid: number, field: "SigBlk" | "ShdPnd"): bigint {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return BigInt(
    `0x${new RegExp(`^${field}:\\s*(\\S+)$`, "m").exec(status)![1]}`,
  );
}

function bit(signal: string): bigint {
  return 1n << BigInt(signalNumber(signal)! - 1);
}

/**
 * Kills the job's worker group if a supervisor killed by a failing test left
 * it running: a test leaves no process behind.
 */
async function killLeftWorker(dir: string, id: string): Promise<void> {
  const job = await new FileJobStore(dir).load(id).catch(() => undefined);
  const pid = job?.workerPid;
  if (pid !== undefined && alive(pid)) Deno.kill(-pid, "SIGKILL");
}

/** Long enough for Deno's SIGUSR1 listener (installed after 500 ms). */
async function pastInspectorGrace(pid: number): Promise<void> {
  const started = Date.now();
  await until(
    "the supervisor to run its own program",
    () => Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes(SUPERVISE_ARG),
  );
  // Measured from when it runs Deno, not from the spawn.
  await until("Deno's grace to pass", () => Date.now() - started > 800);
}

Deno.test("a supervisor is started with the quiet signals blocked: SIGUSR1 opens no inspector, none ends it, the job ends honestly", async () => {
  await withTempDir(async (dir) => {
    const trigger = join(dir, "exit-now");
    const { jobId, pid } = await mustSpawn({
      ...untilFile(trigger),
      store: dir,
    });
    try {
      await pastInspectorGrace(pid);
      for (const signal of QUIET_SIGNALS) {
        assert.ok(signalSet(pid, "SigBlk") & bit(signal), `${signal} blocked`);
      }
      for (const signal of QUIET_SIGNALS) Deno.kill(pid, signal);
      // Blocked: held pending, never delivered.
      await until(
        "the signals to be pending",
        () =>
          QUIET_SIGNALS.every((s) =>
            (signalSet(pid, "ShdPnd") & bit(s)) !== 0n
          ),
      );
      assert.ok(!listensOnInspectorPort(pid), "no inspector");
      assert.ok(alive(pid));
      await Deno.writeTextFile(trigger, "");
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "completed");
      assert.equal(job.error, undefined);
      assert.ok(!listensOnInspectorPort(pid) || !alive(pid));
    } finally {
      await Deno.writeTextFile(trigger, "").catch(() => {});
      await until("the supervisor to exit", () => !alive(pid));
      await killLeftWorker(dir, jobId);
    }
  });
});

Deno.test("what a supervisor starts does not inherit its mask: a worker's signals are its own", async () => {
  await withTempDir(async (dir) => {
    // Exec'd straight from the redirect's shell, so it shows the mask its
    // supervisor gave it; then a worker that ends itself by SIGUSR1.
    const shown = await mustSpawn({
      command: "grep",
      args: ["SigBlk", "/proc/self/status"],
      store: dir,
    });
    const job = await finalJob(dir, shown.jobId);
    assert.equal(job.status, "completed");
    assert.match(await Deno.readTextFile(job.logPath), /^SigBlk:\s*0+\n$/);
    const killed = await mustSpawn({
      command: "sh",
      args: ["-c", "kill -USR1 $$"],
      store: dir,
      onEnd: "grep SigBlk /proc/self/status",
    });
    const ended = await finalJob(dir, killed.jobId);
    assert.equal(ended.signal, "SIGUSR1");
    await until("the hook", () => !alive(killed.pid));
    assert.match(await Deno.readTextFile(ended.logPath), /\nSigBlk:\s*0+\n/);
  });
});

Deno.test("a supervisor started without the mask still outlives SIGUSR2, SIGQUIT, SIGALRM, SIGVTALRM and SIGPROF", async () => {
  await withTempDir(async (dir) => {
    const trigger = join(dir, "exit-now");
    const store = new FileJobStore(dir);
    const { command, args } = untilFile(trigger);
    const job = await store.create({
      command,
      argv: [command, ...args],
      workingDir: dir,
    });
    // Started by hand, as a program with no env or perl to block with
    // would start it: only its listeners stand between it and the signals.
    const supervisor = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        resolve(import.meta.dirname!, "../_supervise.ts"),
        SUPERVISE_ARG,
        dir,
        job.id,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      await pastInspectorGrace(supervisor.pid);
      await until(
        "the worker",
        async () => (await store.load(job.id)).workerPid,
      );
      for (const signal of AFTER_GRACE) {
        Deno.kill(supervisor.pid, signal as Deno.Signal);
      }
      // Each is handled (not pending, not ignored by the kernel): once none
      // is pending any more, the supervisor has taken them all.
      await until(
        "the signals to be taken",
        () => {
          if (!alive(supervisor.pid)) throw new Error("a signal ended it");
          return AFTER_GRACE.every((s) =>
            (signalSet(supervisor.pid, "ShdPnd") & bit(s)) === 0n
          );
        },
      );
      assert.ok(alive(supervisor.pid), "the supervisor lives");
      assert.equal((await store.load(job.id)).status, "running");
      await Deno.writeTextFile(trigger, "");
      const ended = await finalJob(dir, job.id);
      assert.equal(ended.status, "completed");
      assert.equal((await supervisor.status).code, 0);
    } finally {
      await Deno.writeTextFile(trigger, "").catch(() => {});
      await until("the supervisor to exit", () => !alive(supervisor.pid));
      await supervisor.status;
      await killLeftWorker(dir, job.id);
    }
  });
});
