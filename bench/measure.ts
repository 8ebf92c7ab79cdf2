// The figures of issue 21, each for the two ways a job is supervised, side
// by side in one run (interleaved where it matters, so a noisy neighbour
// hits both): the perl shim (the default) and the Deno supervisor (the
// fallback, EPACK_DETACH_SHIM=0, which every job had before):
//
// - memory: the sum of the PSS of all our processes on the host while N
//   jobs run (N = 20 and 50), per job; for the file store, and for
//   PostgreSQL, whose host also runs one renewer;
// - start: `run --detach` until it exits, and until the worker runs;
// - end: from the worker's exit until waitForJob() returns, `jobs wait`
//   exits, and the record on disk has the end;
// - SIGKILL of every Deno process of ours while 10 jobs run: how many ends
//   are still recorded exactly.
//
// Jobs are started through the CLI (`mod.ts run --detach`), so the
// supervisor measured is the one users get.
//
//   deno run -A bench/measure.ts [--rounds N] [--no-pg]

import { join } from "node:path";
import { parseArgs } from "node:util";
import { waitForJob } from "../mod.ts";
import { FileJobStore, type Job } from "../jobs.ts";
import { readJournal } from "../store/journal.ts";
import { startCluster } from "../testdata/pg_cluster.ts";
import { alive, denoPath, MOD, untilExited } from "./_fixtures.ts";

const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "5" },
    "no-pg": { type: "boolean", default: false },
  },
});
const ROUNDS = Number(values.rounds);
const DENO = denoPath();
const SUPERVISE = new URL("../_supervise.ts", import.meta.url).pathname;
const WAYS = ["shim", "deno"] as const;
type Way = typeof WAYS[number];

const root = await Deno.makeTempDir({ prefix: "detach_bench_measure_" });
let serial = 0;

/** `deno run -A mod.ts ...` with the way chosen; its stdout. */
async function cli(way: Way, args: string[]): Promise<string> {
  const out = await new Deno.Command(DENO, {
    args: ["run", "-A", MOD, ...args],
    env: { EPACK_DETACH_SHIM: way === "shim" ? "1" : "0" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `mod.ts ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

interface Started {
  jobId: string;
  pid: number;
  logPath: string;
}

async function detach(
  way: Way,
  store: string,
  argv: string[],
): Promise<Started> {
  const out = JSON.parse(
    await cli(way, [
      "run",
      "--detach",
      "--json",
      "--store",
      store,
      "--",
      ...argv,
    ]),
  );
  return { jobId: out.id, pid: out.pid, logPath: out.log_path };
}

/** A worker that runs until `gate` exists. */
function held(gate: string): string[] {
  return ["sh", "-c", `while [ ! -e '${gate}' ]; do sleep 0.05; done`];
}

/** PSS of a process in KiB (0 if it is gone). */
function pss(pid: number): number {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/smaps_rollup`);
    return Number(/^Pss:\s+(\d+) kB$/m.exec(text)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** The PIDs of live processes whose command line holds every one of `parts`. */
function processesWith(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      const argv = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      if (parts.every((part) => argv.includes(part))) {
        if (alive(pid)) pids.push(pid);
      }
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

/**
 * N jobs running at once on `store` (local dir `dir`): the sum of the PSS
 * of all our processes (supervisors, and a renewer's), KiB per job.
 */
async function memoryPerJob(
  way: Way,
  store: string,
  dir: string,
  n: number,
): Promise<number> {
  const gate = join(root, `gate${serial++}`);
  const jobs: Started[] = [];
  for (let i = 0; i < n; i++) jobs.push(await detach(way, store, held(gate)));
  try {
    // Each has its worker, and has settled (a Deno supervisor's heap).
    for (const { jobId } of jobs) {
      for (
        let t = 0;
        readJournal(`${dir}/${jobId}.live`)?.attempts.length !== 1;
        t++
      ) {
        if (t > 600) throw new Error(`job ${jobId} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    await new Promise((r) => setTimeout(r, 1_500));
    // Ours: every supervisor, and on PostgreSQL the host's renewal passes
    // (this checkout's; other checkouts on the machine run theirs), which
    // come and go: the mean of samples over two default periods.
    const window = store === dir ? 1_000 : 10_000;
    const sums: number[] = [];
    for (const end = Date.now() + window; Date.now() < end;) {
      const pids = new Set([
        ...jobs.map((j) => j.pid),
        ...processesWith(SUPERVISE, "--renew"),
      ]);
      let sum = 0;
      for (const pid of pids) sum += pss(pid);
      sums.push(sum);
      await new Promise((r) => setTimeout(r, 100));
    }
    return sums.reduce((a, b) => a + b, 0) / sums.length / n;
  } finally {
    await Deno.writeTextFile(gate, "");
    for (const { jobId } of jobs) {
      await waitForJob(jobId, { store, timeout: 60_000 });
    }
    for (const { pid } of jobs) await untilExited(pid);
  }
}

interface Timing {
  /** `run --detach` until it exits. */
  detach: number;
  /** `run --detach` until the worker runs. */
  worker: number;
  /** The worker's exit until waitForJob() returns. */
  waitForJob: number;
  /** ... until `jobs wait` exits. */
  jobsWait: number;
  /** ... until the record on disk has the end (its mtime). */
  record: number;
}

/**
 * One job whose worker prints the time (ns) first and last; waitForJob()
 * here and a `jobs wait` process are both waiting for it.
 */
async function timing(way: Way, jobsDir: string): Promise<Timing> {
  const t0 = Date.now();
  const { jobId, pid } = await detach(way, jobsDir, [
    "sh",
    "-c",
    `date +%s%N; sleep 0.5; date +%s%N`,
  ]);
  const detached = Date.now() - t0;
  const cliWait = (async () => {
    await cli(way, ["jobs", "wait", jobId, "--jobs-dir", jobsDir]);
    return Date.now();
  })();
  const libWait = (async () => {
    await waitForJob(jobId, { store: jobsDir, timeout: 30_000 });
    return Date.now();
  })();
  const [cliAt, libAt] = await Promise.all([cliWait, libWait]);
  await untilExited(pid);
  const store = new FileJobStore(jobsDir);
  const job: Job = await store.loadRecorded(jobId);
  if (job.status !== "completed") throw new Error(`${jobId}: ${job.error}`);
  const [first, last] = (await Deno.readTextFile(job.logPath)).trim().split(
    "\n",
  )
    .map((ns) => Number(BigInt(ns) / 1_000_000n));
  const written = Deno.statSync(store.recordPath(jobId)).mtime!.getTime();
  return {
    detach: detached,
    worker: first - t0,
    waitForJob: libAt - last,
    jobsWait: cliAt - last,
    record: written - last,
  };
}

/**
 * 10 jobs, then SIGKILL to every Deno process of ours: how many records
 * then end exactly (each worker exits 3 once let go) rather than `lost`.
 */
async function killEverything(way: Way, jobsDir: string): Promise<number> {
  const gate = join(root, `gate${serial++}`);
  const script = `while [ ! -e '${gate}' ]; do sleep 0.05; done; exit 3`;
  const jobs: Started[] = [];
  for (let i = 0; i < 10; i++) {
    jobs.push(await detach(way, jobsDir, ["sh", "-c", script]));
  }
  const store = new FileJobStore(jobsDir);
  for (const { jobId } of jobs) {
    while ((await store.load(jobId)).workerPid === undefined) {
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  for (const pid of processesWith(jobsDir)) {
    const exe = Deno.readLinkSync(`/proc/${pid}/exe`);
    if (exe === Deno.realPathSync(DENO)) Deno.kill(pid, "SIGKILL");
  }
  await Deno.writeTextFile(gate, "");
  let exact = 0;
  for (const { jobId } of jobs) {
    const job = await waitForJob(jobId, { store: jobsDir, timeout: 30_000 });
    if (job.status === "failed" && job.exitCode === 3) exact++;
  }
  return exact;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const mib = (kib: number) => (kib / 1024).toFixed(2);

try {
  const jobsDir = join(root, "jobs");
  // One untimed round first, so every program is in Deno's caches.
  for (const way of WAYS) await timing(way, jobsDir);

  console.log("Sum of PSS of all our processes, per running job (MiB):");
  console.log("| store | supervisor | N = 20 | N = 50 | goal |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const way of WAYS) {
    const row = [];
    for (const n of [20, 50]) {
      row.push(await memoryPerJob(way, jobsDir, jobsDir, n));
    }
    console.log(
      `| jobs directory | ${way} | ${row.map(mib).join(" | ")} | ≤ 1 |`,
    );
  }
  if (!values["no-pg"]) {
    await using cluster = await startCluster({ noFsync: false });
    const logDir = join(root, "pglogs");
    const url = `${cluster.url}?epack_log_dir=${encodeURIComponent(logDir)}`;
    for (const way of WAYS) {
      const row = [];
      for (const n of [20, 50]) {
        row.push(await memoryPerJob(way, url, logDir, n));
      }
      console.log(
        `| PostgreSQL (with its renewal passes) | ${way} | ${
          row.map(mib).join(" | ")
        } | ≤ 1 |`,
      );
    }
  }

  const times: Record<Way, Timing[]> = { shim: [], deno: [] };
  for (let i = 0; i < ROUNDS; i++) {
    for (const way of WAYS) times[way].push(await timing(way, jobsDir));
  }
  console.log(`\nStart and end, ms, median (max) of ${ROUNDS}, interleaved:`);
  console.log("| from | until | shim | deno |");
  console.log("| --- | --- | --- | --- |");
  const rows: [keyof Timing, string, string][] = [
    ["detach", "`run --detach` starts", "it exits"],
    ["worker", "`run --detach` starts", "the worker runs"],
    ["waitForJob", "the worker exits", "waitForJob() returns"],
    ["jobsWait", "the worker exits", "`jobs wait` exits"],
    ["record", "the worker exits", "the record on disk has the end"],
  ];
  for (const [key, from, until] of rows) {
    const cell = (way: Way) => {
      const xs = times[way].map((t) => t[key]);
      return `${median(xs)} (${Math.max(...xs)})`;
    };
    console.log(`| ${from} | ${until} | ${cell("shim")} | ${cell("deno")} |`);
  }

  console.log("\nSIGKILL of every Deno process of ours while 10 jobs run:");
  console.log("| supervisor | ends recorded exactly |");
  console.log("| --- | --- |");
  for (const way of WAYS) {
    console.log(`| ${way} | ${await killEverything(way, jobsDir)} of 10 |`);
  }
} finally {
  await Deno.remove(root, { recursive: true }).catch(() => {});
}
