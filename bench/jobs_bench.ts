// JobStore.list() over 10,000 jobs, against the least any listing can cost:
// reading and JSON.parse-ing every record file one after the other. Every job
// also has a 64 KiB log, so a listing that read logs would stand out at once.
// A few jobs are running with their liveness lock held, as a supervisor would
// hold it, so the liveness check is part of what is measured.
//
//   deno bench -A bench/jobs_bench.ts

import { join } from "node:path";
import { type Job, JobStore, newJobId, toRecord } from "../jobs.ts";

const COUNT = 10_000;
const RUNNING = 100;
const LOG_SIZE = 64 * 1024;

const dir = Deno.makeTempDirSync({ prefix: "detach_bench_jobs_" });
const held: AsyncDisposable[] = [];
addEventListener("unload", () => {
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch {
    // Already gone.
  }
});

const store = new JobStore(dir);
await setUp();

async function setUp(): Promise<void> {
  const log = new Uint8Array(LOG_SIZE).fill(0x2e);
  const start = Date.now() - COUNT * 1000;
  const ids = await Promise.all(
    Array.from({ length: COUNT }, () => newJobId()),
  );
  // Written directly rather than through create(): setting up 10,000 jobs
  // with an fsync each would take longer than the benchmark.
  const write = async (i: number) => {
    const id = ids[i];
    const running = i >= COUNT - RUNNING;
    const job: Job = {
      id,
      command: "pull",
      args: [`https://registry.example.com/acme/app${i}`],
      flags: ["--env", "prod", "--ci"],
      status: running ? "running" : i % 10 === 0 ? "failed" : "completed",
      pid: 10_000 + i,
      startedAt: new Date(start + i * 1000),
      logPath: join(dir, `${id}.log`),
      workingDir: "/work",
      argv: ["/usr/bin/deno", "run", "-A", "cli.ts", "pull"],
    };
    if (!running) {
      job.completedAt = new Date(start + i * 1000 + 500);
      job.exitCode = i % 10 === 0 ? 1 : 0;
      job.result = { bytes: i * 1024, digest: `sha256:${"ab".repeat(32)}` };
    }
    await Deno.writeTextFile(
      store.recordPath(id),
      JSON.stringify(toRecord(job), null, 2) + "\n",
      { mode: 0o600 },
    );
    await Deno.writeFile(job.logPath, log, { mode: 0o600 });
    await Deno.writeFile(store.livenessPath(id), new Uint8Array(), {
      mode: 0o600,
    });
  };
  for (let i = 0; i < COUNT; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, COUNT - i) }, (_, k) => write(i + k)),
    );
  }
  for (const id of ids.slice(COUNT - RUNNING)) {
    held.push(await store.holdLiveness(id));
  }
  // Check once that both sides see the same jobs, and that the running
  // ones really are seen as running (their locks are held).
  const listed = await store.list();
  const parsed = await readAndParseAll();
  const running = listed.jobs.filter((j) => j.status === "running").length;
  if (
    listed.jobs.length !== COUNT || listed.invalid.length !== 0 ||
    parsed.length !== COUNT || running !== RUNNING
  ) {
    throw new Error(
      `Bad setup: list ${listed.jobs.length} jobs (${running} running), ` +
        `${listed.invalid.length} invalid; baseline ${parsed.length}`,
    );
  }
}

async function recordPaths(): Promise<string[]> {
  const paths: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".json")) paths.push(join(dir, entry.name));
  }
  return paths;
}

/** The floor: list the dir, then read and parse records 32 at a time. */
async function readAndParseAll(): Promise<unknown[]> {
  const paths = await recordPaths();
  const out = new Array<unknown>(paths.length);
  let next = 0;
  // The same concurrency as list(), so the ratio measures list()'s own work
  // (validation, liveness checks, sorting), not a different I/O pattern.
  const worker = async () => {
    while (next < paths.length) {
      const i = next++;
      out[i] = JSON.parse(await Deno.readTextFile(paths[i]));
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  return out;
}

Deno.bench({
  name: "read + JSON.parse, 32 at a time (floor)",
  group: "list 10k jobs",
  baseline: true,
  async fn() {
    await readAndParseAll();
  },
});

Deno.bench({
  name: "read + JSON.parse, one at a time",
  group: "list 10k jobs",
  async fn() {
    for (const path of await recordPaths()) {
      JSON.parse(await Deno.readTextFile(path));
    }
  },
});

Deno.bench({
  name: "store.list()",
  group: "list 10k jobs",
  async fn() {
    await store.list();
  },
});

Deno.bench({
  name: "store.list({ status: 'running' })",
  group: "list 10k jobs",
  async fn() {
    await store.list({ status: "running" });
  },
});
