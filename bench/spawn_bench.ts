// spawn() against the least any detached start can cost: a bare
// `Deno.Command(...).spawn()` + `unref()` of the same program with the same
// permission flags. Only the call is timed (b.start/b.end); each iteration
// then waits for what it started to end, so no background process steals
// the CPU from the next iteration and nothing is left running.
//
// This file is the re-executed program in both cases, so its first line is
// the one line every spawning program needs.
//
//   deno bench -A bench/spawn_bench.ts

import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { currentRuntime, selfArgv } from "../spawn/argv.ts";
import { FileJobStore } from "../jobs.ts";
import { setsidProgram } from "../spawn/launch.ts";
import { bareStart, completed, tempDir, untilExited } from "./_fixtures.ts";

await superviseIfRequested();

// Every spawn starts a real deno process (~30-60 ms of CPU): keep n small.
const N = 20;
const WARMUP = 3;

const jobsDir = tempDir("detach_bench_spawn_");

Deno.bench({
  name: "bare Deno.Command spawn() + unref() of this program",
  group: "spawn",
  baseline: true,
  n: N,
  warmup: WARMUP,
  async fn(b) {
    const self = selfArgv(currentRuntime());
    b.start();
    // Started with no arguments it calls superviseIfRequested(), finds no
    // work, registers its benches as no-ops under `deno run`, and exits.
    const child = bareStart(self);
    b.end();
    // Unref'd, its status would not keep the bench alive: ref it again.
    child.ref();
    await child.status;
  },
});

// For reference: the same bare start through setsid, as spawn() starts its
// supervisor on Linux (no fork of this process).
const setsid = setsidProgram(Deno.execPath());
if (setsid !== undefined) {
  Deno.bench({
    name: "  for reference: the same through setsid (posix_spawn)",
    group: "spawn",
    n: N,
    warmup: WARMUP,
    async fn(b) {
      const self = selfArgv(currentRuntime());
      b.start();
      const child = bareStart(self, setsid);
      b.end();
      child.ref();
      await child.status;
    },
  });
}

Deno.bench({
  name: "spawn() of a job (record + supervisor start)",
  group: "spawn",
  n: N,
  warmup: WARMUP,
  async fn(b) {
    b.start();
    const { jobId, pid } = await spawn({
      command: "true",
      store: jobsDir,
    });
    b.end();
    completed(await waitForJob(jobId, { store: jobsDir, timeout: 30_000 }));
    // The end is recorded just before the supervisor exits: let it finish
    // exiting, as the baseline's child has, before the next iteration.
    await untilExited(pid);
  },
});

// What spawn() adds to the bare start, measured alone: the record, written
// durably (fdatasync, then a hard link for an exclusive name) before the
// supervisor starts. The supervisor stamps its own PID later.
const store = new FileJobStore(jobsDir);

Deno.bench({
  name: "  of which: JobStore.create() (the record, before the start)",
  group: "spawn",
  n: N,
  warmup: WARMUP,
  async fn() {
    await store.create({ command: "true", argv: ["true"] });
  },
});
