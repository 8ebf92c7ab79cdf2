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

/** The signals blocked, ignored or pending for `pid` (/proc's fields). */
function signalSet(
  pid: number,
  field: "SigBlk" | "SigIgn" | "ShdPnd",
): bigint {
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

/**
 * Long enough for Deno's SIGUSR1 listener (installed after 500 ms), once
 * the supervisor runs its own program. Whether that is the perl shim.
 */
async function pastInspectorGrace(pid: number): Promise<boolean> {
  const started = Date.now();
  const cmdline = await until(
    "the supervisor to run its own program",
    () => {
      const text = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      return text.includes(SUPERVISE_ARG) || text.includes(".shim-")
        ? text
        : undefined;
    },
  );
  // Measured from when it runs Deno, not from the spawn.
  await until("Deno's grace to pass", () => Date.now() - started > 800);
  return cmdline.includes(".shim-");
}

Deno.test("a supervisor never dies of the quiet signals: the shim ignores them, the Deno supervisor has them blocked (SIGUSR1 opens no inspector), and the job ends honestly", async () => {
  await withTempDir(async (dir) => {
    const trigger = join(dir, "exit-now");
    const { jobId, pid } = await mustSpawn({
      ...untilFile(trigger),
      store: dir,
    });
    try {
      const shim = await pastInspectorGrace(pid);
      const field = shim ? "SigIgn" : "SigBlk";
      for (const signal of QUIET_SIGNALS) {
        assert.ok(signalSet(pid, field) & bit(signal), `${signal}: ${field}`);
      }
      for (const signal of QUIET_SIGNALS) Deno.kill(pid, signal);
      // Blocked: held pending, never delivered. Ignored: gone at once.
      await until(
        "the signals to be pending, or ignored",
        () =>
          QUIET_SIGNALS.every((s) =>
            ((signalSet(pid, "ShdPnd") & bit(s)) !== 0n) !== shim
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
      args: ["-E", "Sig(Blk|Ign)", "/proc/self/status"],
      store: dir,
    });
    const job = await finalJob(dir, shown.jobId);
    assert.equal(job.status, "completed");
    const shownLog = await Deno.readTextFile(job.logPath);
    assert.match(shownLog, /^SigBlk:\s*0+\n/);
    // Not one the shim or a shell ignores (glibc's own two, 32 and 33,
    // which Deno's children inherit ignored, cannot be set back).
    const ignored = BigInt(`0x${/SigIgn:\s*(\S+)/.exec(shownLog)![1]}`);
    for (
      const signal of [
        ...QUIET_SIGNALS,
        "SIGINT",
        "SIGHUP",
        "SIGTERM",
        "SIGPIPE",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
      ]
    ) assert.equal(ignored & bit(signal), 0n, `${signal} ignored`);
    const killed = await mustSpawn({
      command: "sh",
      args: ["-c", "kill -USR1 $$"],
      store: dir,
      // The hook's own mask, then its parent's: the job's finisher, a Deno
      // process, which has the quiet signals blocked.
      onEnd: "grep SigBlk /proc/self/status /proc/$PPID/status",
    });
    const ended = await finalJob(dir, killed.jobId);
    assert.equal(ended.signal, "SIGUSR1");
    await until("the hook", () => !alive(killed.pid));
    const log = await Deno.readTextFile(ended.logPath);
    assert.match(log, /\n\/proc\/self\/status:SigBlk:\s*0+\n/);
    const parent = /\n\/proc\/\d+\/status:SigBlk:\s*(\S+)\n/.exec(log);
    const mask = BigInt(`0x${parent?.[1]}`);
    for (const signal of QUIET_SIGNALS) {
      assert.ok(mask & bit(signal), `the finisher has ${signal} blocked`);
    }
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
