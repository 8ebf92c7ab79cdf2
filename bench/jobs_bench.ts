// JobStore.list() over 10,000 jobs, against the least any listing can cost:
// reading and JSON.parse-ing every record file one after the other. Every job
// also has a 64 KiB log, so a listing that read logs would stand out at once.
// A few jobs are running with their liveness lock held, as a supervisor would
// hold it, so the liveness check is part of what is measured.
//
//   deno bench -A bench/jobs_bench.ts

import { join } from "node:path";
import { FileJobStore } from "../jobs.ts";
import { tempDir, writeJobs } from "./_fixtures.ts";

const COUNT = 10_000;
const RUNNING = 100;
const LOG_SIZE = 64 * 1024;

const dir = tempDir("detach_bench_jobs_");
const held: AsyncDisposable[] = [];

const store = new FileJobStore(dir);
await setUp();

async function setUp(): Promise<void> {
  held.push(
    ...await writeJobs(store, {
      count: COUNT,
      running: RUNNING,
      argv: ["/usr/bin/deno", "run", "-A", "cli.ts", "pull"],
      log: new Uint8Array(LOG_SIZE).fill(0x2e),
    }),
  );
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
