// Figures `deno bench` cannot express, each measured side by side with its
// baseline in one run (interleaved, so a noisy neighbour hits both), then
// printed as a table of medians and ratios:
//
// - the supervisor's peak RSS (VmHWM) and private memory (RssAnon) while its
//   job sleeps, against an idle `deno run` of a script that sleeps: with the
//   job's default timeout and with none (`--timeout 0`), and started through
//   mod.ts (what the CLI did before _supervise.ts) rather than _supervise.ts;
// - the time from the worker's exit until its end is recorded, until
//   waitForJob() returns, and until `epack jobs wait` exits;
// - spawn() against a bare Deno.Command spawn() + unref() of this program,
//   interleaved call by call: a cross-check of bench/spawn_bench.ts, whose
//   two sides run one after the other and so can meet different noise.
//
// Jobs for the first two are started through the CLI (`mod.ts run
// --detach`), so the supervisor measured is the one users get.
//
//   deno run -A bench/measure.ts [--rounds N]

import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { FileJobStore, type Job } from "../jobs.ts";
import { currentRuntime, selfArgv } from "../spawn/argv.ts";
import { SUPERVISE_ARG } from "../spawn/launch.ts";
import {
  alive,
  bareStart,
  benchPath,
  completed,
  denoPath,
  MOD,
  runDeno,
  untilExited,
} from "./_fixtures.ts";

// This program is also the supervisor of the jobs it spawn()s, and the
// program the bare baseline starts, with --noop, to exit at once.
await superviseIfRequested();
if (Deno.args[0] === "--noop") Deno.exit(0);

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "5" } },
});
const ROUNDS = Number(values.rounds);

const DENO = denoPath();
const IDLE = benchPath("./testdata/idle.ts");
const IDLE_MOD = benchPath("./testdata/idle_mod.ts");
const IDLE_ULID = benchPath("./testdata/idle_ulid.ts");
const SLEEP_S = 1.5;

const root = await Deno.makeTempDir({ prefix: "detach_bench_measure_" });
const jobsDir = join(root, "jobs");
const store = new FileJobStore(jobsDir);

interface Spawned {
  jobId: string;
  pid: number;
  logPath: string;
}

/** Starts a job through the CLI, as a user would. */
async function detach(
  program: string[],
  flags: string[] = [],
): Promise<Spawned> {
  return JSON.parse(
    await runDeno([
      "run",
      "-A",
      MOD,
      "run",
      "--detach",
      "--json",
      "--jobs-dir",
      jobsDir,
      ...flags,
      "--",
      ...program,
    ]),
  );
}

/**
 * Starts a job whose supervisor is mod.ts itself, as the CLI started every
 * supervisor before _supervise.ts: the record as the CLI writes it, then
 * `deno run -A mod.ts __epack_detach_supervise__ <dir> <id>`.
 */
async function detachThroughMod(program: string[]): Promise<Spawned> {
  const job = await store.create({
    command: "run",
    argv: program,
    timeout: 24 * 60 * 60 * 1000,
    workingDir: root,
  });
  const child = bareStart([
    DENO,
    "run",
    "-A",
    MOD,
    SUPERVISE_ARG,
    jobsDir,
    job.id,
  ]);
  return { jobId: job.id, pid: child.pid, logPath: job.logPath };
}

interface Memory {
  /** VmHWM: the peak resident set, KiB. */
  peak: number;
  /** The largest RssAnon seen: private memory, not shared file pages. */
  anon: number;
}

/** VmHWM and RssAnon of a process in KiB, if it is still there. */
function memory(pid: number): Memory | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const hwm = /^VmHWM:\s+(\d+) kB$/m.exec(status);
    const anon = /^RssAnon:\s+(\d+) kB$/m.exec(status);
    if (!hwm || !anon) return undefined;
    return { peak: Number(hwm[1]), anon: Number(anon[1]) };
  } catch {
    return undefined;
  }
}

/** The largest figures seen while polling a process until it exits. */
async function pollPeak(pid: number): Promise<Memory> {
  const most = { peak: 0, anon: 0 };
  while (alive(pid)) {
    const m = memory(pid);
    if (m !== undefined) {
      most.peak = Math.max(most.peak, m.peak);
      most.anon = Math.max(most.anon, m.anon);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  if (most.peak === 0) throw new Error(`No VmHWM read for process ${pid}`);
  return most;
}

async function idlePeak(script: string): Promise<Memory> {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", script, String(SLEEP_S)],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const peak = await pollPeak(child.pid);
  await child.status;
  return peak;
}

async function supervisorPeak(
  how: "cli" | "no timeout" | "mod.ts" = "cli",
): Promise<Memory> {
  const sleep = ["sleep", String(SLEEP_S)];
  const { jobId, pid } = how === "mod.ts"
    ? await detachThroughMod(sleep)
    : await detach(sleep, how === "no timeout" ? ["--timeout", "0"] : []);
  const peak = await pollPeak(pid);
  await final(jobId);
  return peak;
}

async function final(jobId: string): Promise<Job> {
  return completed(
    await waitForJob(jobId, { store: jobsDir, timeout: 30_000 }),
  );
}

interface Latency {
  recorded: number;
  waitForJob: number;
  jobsWait: number;
}

/**
 * One job whose worker prints the time (ns) as its last act: the end is
 * recorded, waitForJob() here and a `jobs wait` process are both waiting.
 */
async function latency(): Promise<Latency> {
  const { jobId, pid } = await detach([
    "sh",
    "-c",
    `sleep ${SLEEP_S}; date +%s%N`,
  ]);
  const cli = (async () => {
    const out = await new Deno.Command(DENO, {
      args: ["run", "-A", MOD, "jobs", "wait", jobId, "--jobs-dir", jobsDir],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).output();
    const at = Date.now();
    if (out.code !== 0) {
      throw new Error(`jobs wait: ${new TextDecoder().decode(out.stderr)}`);
    }
    return at;
  })();
  const lib = (async () => {
    await waitForJob(jobId, { store: jobsDir, timeout: 30_000 });
    return Date.now();
  })();
  const [cliAt, libAt] = await Promise.all([cli, lib]);
  const job = await final(jobId);
  const log = (await Deno.readTextFile(job.logPath)).trim().split("\n");
  const exitedMs = Number(BigInt(log[log.length - 1]) / 1_000_000n);
  await untilExited(pid);
  return {
    recorded: job.completedAt!.getTime() - exitedMs,
    waitForJob: libAt - exitedMs,
    jobsWait: cliAt - exitedMs,
  };
}

interface SpawnPair {
  bare: number;
  spawn: number;
}

/** One bare start and one spawn(), each then waited for, untimed. */
async function spawnPair(): Promise<SpawnPair> {
  const self = selfArgv(currentRuntime());
  let t = performance.now();
  const child = bareStart([...self, "--noop"]);
  const bare = performance.now() - t;
  child.ref();
  await child.status;

  t = performance.now();
  const { jobId, pid } = await spawn({
    command: "true",
    store: jobsDir,
  });
  const took = performance.now() - t;
  await final(jobId);
  await untilExited(pid);
  return { bare, spawn: took };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const mib = (kib: number) => (kib / 1024).toFixed(1);

try {
  // One untimed round first, so every program is in Deno's caches.
  await idlePeak(IDLE_MOD);
  await supervisorPeak();

  const rss = {
    idle: [] as Memory[],
    ulid: [] as Memory[],
    mod: [] as Memory[],
    sup: [] as Memory[],
    supNoTimeout: [] as Memory[],
    supMod: [] as Memory[],
  };
  const lat: Latency[] = [];
  const pairs: SpawnPair[] = [];
  await spawnPair();
  for (let i = 0; i < ROUNDS * 8; i++) pairs.push(await spawnPair());
  for (let i = 0; i < ROUNDS; i++) {
    rss.idle.push(await idlePeak(IDLE));
    rss.sup.push(await supervisorPeak());
    rss.supNoTimeout.push(await supervisorPeak("no timeout"));
    rss.supMod.push(await supervisorPeak("mod.ts"));
    rss.ulid.push(await idlePeak(IDLE_ULID));
    rss.mod.push(await idlePeak(IDLE_MOD));
    lat.push(await latency());
  }
  await store.ensureDir();

  const idle = median(rss.idle.map((m) => m.peak));
  const idleAnon = median(rss.idle.map((m) => m.anon));
  const rows = [
    ["idle `deno run` (baseline)", rss.idle],
    ["idle, importing npm:ulid", rss.ulid],
    ["idle, importing mod.ts", rss.mod],
    ["supervisor, job running `sleep`", rss.sup],
    ["supervisor, `--timeout 0`", rss.supNoTimeout],
    ["supervisor started through mod.ts (before)", rss.supMod],
  ] as const;
  console.log(`Memory, median (min-max) of ${ROUNDS}:`);
  console.log(
    "| process | peak RSS (VmHWM) MiB | × idle | private (RssAnon) MiB | × idle |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  // The range too: under load the supervisor's RssAnon jumps by MiBs (more
  // malloc arenas of its threads in use), so a median alone can mislead.
  const range = (xs: number[]) =>
    `${mib(median(xs))} (${mib(Math.min(...xs))}-${mib(Math.max(...xs))})`;
  for (const [name, ms] of rows) {
    const peak = median(ms.map((m) => m.peak));
    const anon = median(ms.map((m) => m.anon));
    console.log(
      `| ${name} | ${range(ms.map((m) => m.peak))} | ${
        (peak / idle).toFixed(2)
      } | ${range(ms.map((m) => m.anon))} | ${(anon / idleAnon).toFixed(2)} |`,
    );
  }
  console.log(
    `max supervisor peak: ${mib(Math.max(...rss.sup.map((m) => m.peak)))} MiB`,
  );

  console.log(`\nFrom the worker's exit until ..., ms, over ${ROUNDS} jobs:`);
  console.log("| until | median | max | goal |");
  console.log("| --- | --- | --- | --- |");
  for (const key of ["recorded", "waitForJob", "jobsWait"] as const) {
    const xs = lat.map((l) => l[key]);
    const name = {
      recorded: "its end is recorded (completed_at)",
      waitForJob: "waitForJob() returns",
      jobsWait: "`epack jobs wait` exits",
    }[key];
    console.log(`| ${name} | ${median(xs)} | ${Math.max(...xs)} | < 100 |`);
  }

  const bare = median(pairs.map((p) => p.bare));
  const spawned = median(pairs.map((p) => p.spawn));
  console.log(
    `\nspawn() against a bare start, interleaved, ${pairs.length} pairs:`,
  );
  console.log("| call | median ms | × bare | goal |");
  console.log("| --- | --- | --- | --- |");
  console.log(
    `| bare Deno.Command spawn() + unref() | ${bare.toFixed(2)} | 1.00 | |`,
  );
  console.log(
    `| spawn() | ${spawned.toFixed(2)} | ${
      (spawned / bare).toFixed(2)
    } | ≤ 1.5 |`,
  );
} finally {
  await Deno.remove(root, { recursive: true });
}
