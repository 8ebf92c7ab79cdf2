// Log throughput: a job that writes 1 GiB to stdout, from spawn() until its
// end is recorded, against the same command under a shell redirect
// (`sh -c 'head -c N /dev/zero > file'`). Each iteration checks that the
// log holds exactly N bytes, so a fast but lossy log fails the bench.
//
// The job's end is watched two ways, because the way of watching matters:
// polling the record, and waitForJob(), which watches the job's record with
// inotify. A watch on the whole jobs directory, where the log lives, would
// wake for every write the job makes, and the waiting process would compete
// for the CPU with the job (waitForJob() once did, at 0.62× a redirect).
//
//   deno bench -A bench/log_bench.ts

import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { FileJobStore, type Job } from "../jobs.ts";
import { completed, tempDir } from "./_fixtures.ts";

await superviseIfRequested();

const SIZE = 1024 * 1024 * 1024;
// 1 GiB per iteration: a few iterations say enough.
const N = 4;
const WARMUP = 1;

const dir = tempDir("detach_bench_log_");

async function checkSize(path: string): Promise<void> {
  const { size } = await Deno.stat(path);
  if (size !== SIZE) {
    throw new Error(`${path} holds ${size} bytes, expected exactly ${SIZE}`);
  }
  // Dropping the file and flushing what is left of it keeps its writeback
  // out of the next iteration, and out of the benches that run after this
  // file: behind a gigabyte of writeback, every fsync waits (spawn() does
  // one), which doubled spawn()'s time in the benches that followed.
  await Deno.remove(path);
  await new Deno.Command("sync").output();
}

Deno.bench({
  name: "sh -c 'head -c 1GiB /dev/zero > file'",
  group: "log 1 GiB",
  baseline: true,
  n: N,
  warmup: WARMUP,
  async fn(b) {
    const file = `${dir}/redirect.log`;
    b.start();
    const { code } = await new Deno.Command("sh", {
      args: ["-c", `head -c ${SIZE} /dev/zero > '${file}'`],
      stdin: "null",
    }).output();
    b.end();
    if (code !== 0) throw new Error(`sh exited with ${code}`);
    await checkSize(file);
  },
});

async function startJob(): Promise<string> {
  const { jobId } = await spawn({
    command: "head",
    args: ["-c", String(SIZE), "/dev/zero"],
    store: dir,
  });
  return jobId;
}

Deno.bench({
  name: "spawn() a job writing 1 GiB, its end polled every 10 ms",
  group: "log 1 GiB",
  n: N,
  warmup: WARMUP,
  async fn(b) {
    const store = new FileJobStore(dir);
    b.start();
    const jobId = await startJob();
    let job: Job;
    while ((job = await store.load(jobId)).status === "running") {
      await new Promise((r) => setTimeout(r, 10));
    }
    b.end();
    completed(job);
    await checkSize(job.logPath);
  },
});

Deno.bench({
  name: "spawn() a job writing 1 GiB, its end awaited by waitForJob()",
  group: "log 1 GiB",
  n: N,
  warmup: WARMUP,
  async fn(b) {
    b.start();
    const jobId = await startJob();
    const job = await waitForJob(jobId, { store: dir, timeout: 120_000 });
    b.end();
    completed(job);
    await checkSize(job.logPath);
  },
});
