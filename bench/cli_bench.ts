// The CLI end to end, as whole processes, each against the least its kind of
// process can cost:
//
// - `mod.ts pull <registry> --detach` against `deno run` of an empty script:
//   what a user waits for before getting the prompt back.
// - `mod.ts jobs --all --json` over 10,000 jobs against a `deno run` that
//   reads, parses and prints the same records (bench/testdata/read_parse.ts).
//
// Each pull iteration then waits, untimed, for its job to end and its
// supervisor to exit, so nothing is left running and no background process
// steals the CPU from the next iteration.
//
//   deno bench -A bench/cli_bench.ts

import { join } from "node:path";
import { FileJobStore, type Job } from "../jobs.ts";
import {
  benchPath,
  completed,
  denoPath,
  MOD,
  runDeno as run,
  tempDir,
  untilExited,
  writeJobs,
} from "./_fixtures.ts";

const REGISTRY = benchPath("../examples/registry");
const EMPTY = benchPath("./testdata/empty.ts");
const IDLE_ULID = benchPath("./testdata/idle_ulid.ts");
const READ_PARSE = benchPath("./testdata/read_parse.ts");

const COUNT = 10_000;
const RUNNING = 100;

const root = tempDir("detach_bench_cli_");
const held: AsyncDisposable[] = [];

// --- pull --detach --------------------------------------------------------

const pullJobs = join(root, "pull-jobs");
let pulls = 0;

async function untilEnded(jobId: string): Promise<void> {
  const store = new FileJobStore(pullJobs);
  const end = Date.now() + 30_000;
  let job: Job;
  while ((job = await store.load(jobId)).status === "running") {
    if (Date.now() > end) throw new Error(`Job ${jobId} did not end`);
    await new Promise((r) => setTimeout(r, 10));
  }
  completed(job);
  // The end is recorded just before the supervisor exits.
  await untilExited(job.pid);
}

Deno.bench({
  name: "deno run -A <empty script>",
  group: "pull --detach",
  baseline: true,
  n: 20,
  warmup: 3,
  async fn() {
    await run(["run", "-A", EMPTY]);
  },
});

// Where the time goes: starting the CLI at all, and the one npm import.
Deno.bench({
  name: "  of which: deno run -A <script importing npm:ulid>",
  group: "pull --detach",
  n: 20,
  warmup: 3,
  async fn() {
    await run(["run", "-A", IDLE_ULID, "0"]);
  },
});

Deno.bench({
  name: "  of which: deno run -A mod.ts --version",
  group: "pull --detach",
  n: 20,
  warmup: 3,
  async fn() {
    await run(["run", "-A", MOD, "--version"]);
  },
});

Deno.bench({
  name: "deno run -A mod.ts pull <registry> --detach --json",
  group: "pull --detach",
  n: 20,
  warmup: 3,
  async fn(b) {
    const output = join(root, `pull-${pulls++}.epack`);
    b.start();
    const stdout = await run([
      "run",
      "-A",
      MOD,
      "pull",
      REGISTRY,
      "--detach",
      "--json",
      "--jobs-dir",
      pullJobs,
      "-o",
      output,
    ]);
    b.end();
    await untilEnded(JSON.parse(stdout).jobId);
  },
});

// --- jobs --all --json over 10,000 jobs -------------------------------------

const listJobs = join(root, "list-jobs");
await setUpJobs();

async function setUpJobs(): Promise<void> {
  // No logs: neither side reads them. The running jobs' liveness locks are
  // held here, so the CLI's liveness checks see them running.
  held.push(
    ...await writeJobs(new FileJobStore(listJobs), {
      count: COUNT,
      running: RUNNING,
      argv: [denoPath(), "run", "-A", MOD, "pull"],
    }),
  );
  // Both sides must see every job, and the CLI the running ones as running.
  const cli = JSON.parse(await listCli()) as { jobs: { status: string }[] };
  const floor = JSON.parse(await listFloor()) as { jobs: unknown[] };
  const running = cli.jobs.filter((j) => j.status === "running").length;
  if (
    cli.jobs.length !== COUNT || floor.jobs.length !== COUNT ||
    running !== RUNNING
  ) {
    throw new Error(
      `Bad setup: the CLI lists ${cli.jobs.length} jobs (${running} running), ` +
        `the floor ${floor.jobs.length}`,
    );
  }
}

function listFloor(): Promise<string> {
  return run(["run", "-A", READ_PARSE, listJobs]);
}

function listCli(): Promise<string> {
  return run([
    "run",
    "-A",
    MOD,
    "jobs",
    "--all",
    "--json",
    "--jobs-dir",
    listJobs,
  ]);
}

Deno.bench({
  name: "deno run read_parse.ts <dir> (read + parse + print)",
  group: "jobs --all --json, 10k jobs",
  baseline: true,
  n: 10,
  warmup: 2,
  async fn() {
    await listFloor();
  },
});

Deno.bench({
  name: "deno run -A mod.ts jobs --all --json",
  group: "jobs --all --json, 10k jobs",
  n: 10,
  warmup: 2,
  async fn() {
    await listCli();
  },
});
