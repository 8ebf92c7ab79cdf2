// What a queue costs. Under `deno bench`: the time from a slot freeing (the
// running job's worker exits) to the next queued job's worker starting,
// against the time from a spawn() call to its worker starting (what any
// job's start costs: a new supervisor process, then the worker). Under
// `deno run -A bench/queue_bench.ts memory`: the processes, memory and disk
// of 100 queued jobs.
//
// The running job's worker blocks reading a FIFO; the iteration's clock
// starts when the bench writes to it, and stops when the next job's worker
// has made its file (looked for every millisecond).
//
// This file is the re-executed program (the jobs' supervisor), so its first
// line is the one line every spawning program needs.
//
//   deno bench -A bench/queue_bench.ts
//   deno run -A bench/queue_bench.ts memory

import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { setJobLimit } from "../schedule/schedule.ts";
import { FileJobStore } from "../jobs.ts";
import { completed, tempDir, untilExited } from "./_fixtures.ts";

await superviseIfRequested();

// Each iteration starts two supervisors and two workers: keep n small.
const N = Number(Deno.env.get("QUEUE_BENCH_N") ?? 15);
const WARMUP = 2;

/**
 * Resolves once `path` exists, looking every millisecond: a file-system
 * watch missed the file now and then under `deno bench`, and a look costs
 * microseconds.
 */
async function appeared(path: string): Promise<void> {
  while (!exists(path)) await new Promise((r) => setTimeout(r, 1));
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

async function mkfifo(path: string): Promise<void> {
  const out = await new Deno.Command("mkfifo", { args: [path] }).output();
  if (!out.success) throw new Error(`mkfifo ${path} failed`);
}

/** A job whose worker makes `file` and ends. */
function touch(jobsDir: string, file: string) {
  return spawn({
    command: "sh",
    args: ["-c", ': > "$1"', "sh", file],
    store: jobsDir,
  });
}

if (Deno.args[0] !== "memory") {
  const dir = tempDir("detach_bench_queue_");
  const queued = `${dir}/queued`;
  const direct = `${dir}/direct`;
  await Deno.mkdir(queued);
  await Deno.mkdir(direct);
  await setJobLimit(1, { store: queued });
  let i = 0;

  Deno.bench({
    name: "spawn() to its worker's start (no queue: the cost of any start)",
    group: "queue",
    baseline: true,
    n: N,
    warmup: WARMUP,
    async fn(b) {
      const file = `${dir}/started_direct_${i++}`;
      const seen = appeared(file);
      b.start();
      const { jobId, pid } = await touch(direct, file);
      await seen;
      b.end();
      completed(await waitForJob(jobId, { store: direct, timeout: 30_000 }));
      await untilExited(pid);
    },
  });

  Deno.bench({
    name: "a slot frees (worker exits) to the next queued job's worker start",
    group: "queue",
    n: N,
    warmup: WARMUP,
    async fn(b) {
      const n = i++;
      const fifo = `${dir}/go_${n}`;
      const file = `${dir}/started_queued_${n}`;
      await mkfifo(fifo);
      const first = await spawn({
        command: "sh",
        args: ["-c", 'read x < "$1"', "sh", fifo],
        store: queued,
      });
      const next = await touch(queued, file);
      if (next.job.status !== "queued") {
        throw new Error(`the second job is ${next.job.status}, not queued`);
      }
      const store = new FileJobStore(queued);
      // The first worker is blocked on the FIFO before the clock starts.
      for (;;) {
        if ((await store.loadRecorded(first.jobId)).workerPid) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      const seen = appeared(file);
      b.start();
      const go = await Deno.open(fifo, { write: true });
      await go.write(new TextEncoder().encode("go\n"));
      go.close();
      await seen;
      b.end();
      completed(
        await waitForJob(next.jobId, { store: queued, timeout: 30_000 }),
      );
      const ended = await store.loadRecorded(next.jobId);
      await untilExited(ended.pid);
    },
  });
}

/** The processes whose command line names `dir`, with their RSS in KiB. */
async function processesOf(
  dir: string,
): Promise<{ pid: number; kib: number }[]> {
  const out = await new Deno.Command("ps", {
    args: ["-eo", "pid=,rss=,args="],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n")
    .filter((line) => line.includes(dir))
    .map((line) => line.trim().split(/\s+/))
    .map(([pid, kib]) => ({ pid: Number(pid), kib: Number(kib) }));
}

if (import.meta.main && Deno.args[0] === "memory") {
  const COUNT = 100;
  const jobsDir = tempDir("detach_bench_queue_memory_");
  await setJobLimit(1, { store: jobsDir });
  const blocker = await spawn({
    command: "sleep",
    args: ["600"],
    store: jobsDir,
  });
  const store = new FileJobStore(jobsDir);
  for (;;) {
    if ((await store.loadRecorded(blocker.jobId)).workerPid) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  const before = await processesOf(jobsDir);
  const times: number[] = [];
  const ids: string[] = [];
  for (let k = 0; k < COUNT; k++) {
    const t0 = performance.now();
    const r = await spawn({ command: "true", store: jobsDir });
    times.push(performance.now() - t0);
    if (r.job.status !== "queued") {
      throw new Error(`job ${k} is ${r.job.status}`);
    }
    ids.push(r.jobId);
  }
  const after = await processesOf(jobsDir);
  let bytes = 0;
  let blocks = 0;
  for (const id of ids) {
    for (const ext of ["json", "live", "log"]) {
      const info = Deno.statSync(`${jobsDir}/${id}.${ext}`);
      bytes += info.size;
      blocks += (info.blocks ?? 0) * 512;
    }
  }
  const record = Deno.statSync(`${jobsDir}/${ids[0]}.json`).size;
  const kib = (list: { kib: number }[]) =>
    list.reduce((sum, p) => sum + p.kib, 0);
  const sorted = [...times].sort((a, b) => a - b);
  console.log(`${COUNT} queued jobs behind one running job (limit 1):`);
  console.log(
    `  processes naming the jobs dir: ${before.length} before (${
      kib(before)
    } KiB RSS), ${after.length} after (${kib(after)} KiB RSS)`,
  );
  console.log(
    `  disk: ${bytes} bytes in ${ids.length * 3} files (${
      Math.round(blocks / 1024)
    } KiB allocated); one record ${record} bytes`,
  );
  console.log(
    `  spawn() of a queued job: median ${
      sorted[Math.floor(COUNT / 2)].toFixed(1)
    } ms, first ${times[0].toFixed(1)} ms, last ${
      times[COUNT - 1].toFixed(1)
    } ms (each lists the directory)`,
  );
  // SIGKILL, not a cancel: a supervisor that ends runs the scheduler,
  // which would start the 100 jobs one by one.
  const job = await store.loadRecorded(blocker.jobId);
  Deno.kill(job.pid, "SIGKILL");
  try {
    Deno.kill(-job.workerPid!, "SIGKILL");
  } catch {
    // Gone already.
  }
}
