// Rule 1 of issue 20: whatever signal a user sends to the PID that
// "Started job … (PID N)" prints (the supervisor), the job's record stays
// honest and no process of the job is left frozen or unsupervised. Each
// signal gets its own job; the ones that mean "stop" must end it cancelled,
// every other one must leave it running under a live supervisor, which a
// cancel then stops. `deno task test:fallback` runs it on the Deno
// supervisor.

import assert from "node:assert/strict";
import { cancel } from "../mod.ts";
import { FileJobStore } from "../jobs.ts";
import { groupMembers, readProcess } from "../process/inspect.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";
import { alive, spawnJob, until } from "../testdata/spawn_helpers.ts";

const STOPS = ["SIGTERM", "SIGINT", "SIGHUP"];
const OTHERS: (Deno.Signal | `${number}`)[] = [
  "SIGQUIT",
  "SIGUSR1",
  "SIGUSR2",
  "SIGALRM",
  "SIGVTALRM",
  "SIGPROF",
  "SIGPIPE",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGCONT",
  "SIGWINCH",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGSYS",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGILL",
  "SIGSEGV",
  "SIGPWR",
  "SIGSTKFLT",
  "SIGIO",
  // Real-time signals, by number (Deno.kill() has no names for them):
  // SIGRTMIN, one between, SIGRTMAX.
  "34",
  "45",
  "64",
];

/**
 * Whether `pid` holds a TCP socket listening on port 9229 (Deno's
 * inspector): its socket inodes, looked up in /proc/net/tcp.
 */
export function listensOnInspectorPort(pid: number): boolean {
  const inodes = new Set<string>();
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const m = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`)
        .match(/^socket:\[(\d+)\]$/);
      if (m) inodes.add(m[1]);
    } catch {
      // Closed meanwhile.
    }
  }
  return Deno.readTextFileSync("/proc/net/tcp").split("\n").slice(1).some(
    (line) => {
      const f = line.trim().split(/\s+/);
      return f[1]?.endsWith(":240D") && f[3] === "0A" && inodes.has(f[9]);
    },
  );
}

/** The state letter of /proc/<pid>/stat ("S", "T", "Z"...). */
function state(pid: number): string | undefined {
  return readProcess(pid)?.state;
}

Deno.test("every signal to the supervisor's PID leaves an honest record and no stray process", async () => {
  await withTempDir(async (dir) => {
    const all = [...STOPS, ...OTHERS, "SIGSTOP", "SIGKILL"];
    const spawned = await spawnJob(
      all.map(() => ({
        command: "sh",
        args: ["-c", "sleep 60 & wait"],
        store: dir,
        grace: 500,
      })),
    );
    assert.equal(spawned.code, 0, spawned.stderr);
    const results = spawned.result as unknown as {
      jobId: string;
      pid: number;
    }[];
    const store = new FileJobStore(dir);
    const jobs = await Promise.all(
      results.map((r) =>
        until(`job ${r.jobId}'s worker`, async () => {
          const j = await store.load(r.jobId);
          return j.workerPid !== undefined ? j : undefined;
        })
      ),
    );
    const failures: string[] = [];
    for (const [i, signal] of all.entries()) {
      const job = jobs[i];
      // The PID spawn() printed is the supervisor's: the record's too.
      assert.equal(job.pid, results[i].pid);
      if (/^\d+$/.test(signal)) {
        await new Deno.Command("kill", { args: [`-${signal}`, `${job.pid}`] })
          .output();
      } else Deno.kill(job.pid!, signal as Deno.Signal);
      if (signal === "SIGSTOP") {
        await until("the supervisor to stop", () => state(job.pid!) === "T");
        Deno.kill(job.pid!, "SIGCONT");
      }
      if (signal === "SIGKILL") {
        // Nothing survives it: the job reads lost at once, and a cancel
        // stops the worker's group, known by the W line.
        const r = await cancel(job.id, { store: dir, grace: 500 });
        if (r.outcome !== "lost") failures.push(`SIGKILL: ${r.message}`);
      } else if (STOPS.includes(signal)) {
        const end = await until(`${signal} to end the job`, async () => {
          const j = await store.load(job.id);
          return j.status !== "running" ? j : undefined;
        });
        if (end.status !== "cancelled") {
          failures.push(`${signal}: ${end.status} ${end.error ?? ""}`);
        }
      } else {
        // The supervisor goes on (not stopped, not dead) and the job with
        // it; a cancel then stops the job as usual.
        const s = state(job.pid!);
        if (signal === "SIGUSR1" && s !== undefined) {
          // Deno opens its inspector shortly after: give it the time.
          await new Promise((r) => setTimeout(r, 1000));
          if (listensOnInspectorPort(job.pid!)) {
            failures.push("SIGUSR1: the supervisor listens on 9229");
          }
        }
        if (s === undefined || s === "Z" || s === "T") {
          failures.push(`${signal}: the supervisor is ${s ?? "gone"}`);
        }
        const r = await cancel(job.id, { store: dir, grace: 500 });
        if (r.job.status !== "cancelled") {
          failures.push(`${signal}: cancel gave ${r.job.status}: ${r.message}`);
        }
      }
      await until(
        `${signal}: the worker's group to go`,
        () => groupMembers(job.workerPid!)?.length === 0,
        10_000,
      ).catch(() => failures.push(`${signal}: the worker's group runs on`));
      if (alive(job.pid!) && (await store.load(job.id)).status !== "running") {
        await until(`${signal}: the supervisor to exit`, () => !alive(job.pid!))
          .catch(() => failures.push(`${signal}: the supervisor stays`));
      }
    }
    assert.deepEqual(failures, []);
  });
});
