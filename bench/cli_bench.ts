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

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { type Job, JobStore, newJobId, toRecord } from "../jobs.ts";
import { readProcess } from "../timeout.ts";

const DENO = Deno.execPath();
const path = (p: string) => fileURLToPath(new URL(p, import.meta.url));
const MOD = path("../mod.ts");
const REGISTRY = path("../examples/registry");
const EMPTY = path("./testdata/empty.ts");
const IDLE_ULID = path("./testdata/idle_ulid.ts");
const READ_PARSE = path("./testdata/read_parse.ts");

const COUNT = 10_000;
const RUNNING = 100;

const root = Deno.makeTempDirSync({ prefix: "detach_bench_cli_" });
const held: AsyncDisposable[] = [];
addEventListener("unload", () => {
  try {
    Deno.removeSync(root, { recursive: true });
  } catch {
    // Already gone.
  }
});

async function run(args: string[]): Promise<string> {
  const out = await new Deno.Command(DENO, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `deno ${args.join(" ")} exited with ${out.code}: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

// --- pull --detach --------------------------------------------------------

const pullJobs = join(root, "pull-jobs");
let pulls = 0;

async function untilEnded(jobId: string): Promise<void> {
  const store = new JobStore(pullJobs);
  const end = Date.now() + 30_000;
  let job: Job;
  while ((job = await store.load(jobId)).status === "running") {
    if (Date.now() > end) throw new Error(`Job ${jobId} did not end`);
    await new Promise((r) => setTimeout(r, 10));
  }
  if (job.status !== "completed") {
    throw new Error(`Job ${jobId} ended ${job.status}: ${job.error}`);
  }
  // The end is recorded just before the supervisor exits.
  for (;;) {
    const p = readProcess(job.pid);
    if (p === undefined || p.state === "Z" || p.state === "X") return;
    if (Date.now() > end) throw new Error(`Supervisor ${job.pid} lingers`);
    await new Promise((r) => setTimeout(r, 5));
  }
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
  const store = new JobStore(listJobs);
  await store.ensureDir();
  const start = Date.now() - COUNT * 1000;
  const ids = await Promise.all(
    Array.from({ length: COUNT }, () => newJobId()),
  );
  // Written directly rather than through create(): 10,000 fsyncs would take
  // longer than the benchmark. No logs: neither side reads them.
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
      logPath: store.logPath(id),
      workingDir: "/work",
      argv: [DENO, "run", "-A", MOD, "pull"],
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
    await Deno.writeFile(store.livenessPath(id), new Uint8Array(), {
      mode: 0o600,
    });
  };
  for (let i = 0; i < COUNT; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, COUNT - i) }, (_, k) => write(i + k)),
    );
  }
  // The running jobs' liveness locks are held here, as their supervisors
  // would hold them, so the CLI's liveness checks see them running.
  for (const id of ids.slice(COUNT - RUNNING)) {
    held.push(await store.holdLiveness(id));
  }
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
