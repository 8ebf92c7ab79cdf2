// Whole processes against the least their kind of process can cost, run
// interleaved (one of each per round, in turn), so a noisy neighbour on this
// shared machine hits every side of a ratio alike. Printed as medians with
// their quartiles, the ratio of the medians, and the median of the ratios
// taken round by round (the figure the goals are stated in).
//
// - `run --detach -- true`, `pull <registry> --detach` and `--version`,
//   through the CLI's entry (cli/main.ts, what the installed command runs)
//   and through mod.ts (which loads the whole library first), against
//   `deno run` of an empty script (issue 22, goal 2: ≤ 1.3×);
// - `jobs --all --json` over 10,000 jobs against a `deno run` that reads and
//   parses the same records synchronously and prints them (goal 4: ≤ 1.3×),
//   and the async read-and-parse script the earlier benches used;
// - with --big, the same listing over 100,000 jobs: time and peak RSS
//   (VmHWM) against the records' size on disk (goal 3: ≤ 1.5 s, ≤ 2×).
//
// `--before` adds the CLI of another checkout (the state before a change).
//
//   deno run -A bench/startup.ts [--rounds N] [--big] [--list-only]
//     [--before <mod.ts>]

import { FileJobStore } from "../jobs.ts";
import {
  benchPath,
  CLI,
  denoPath,
  MOD,
  runDeno,
  tempDir,
  untilExited,
  writeJobs,
} from "./_fixtures.ts";

const args = [...Deno.args];
const flagValue = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const ROUNDS = Number(flagValue("--rounds") ?? 15);
const BIG = args.includes("--big");
/** Only the listing (goal 3). */
const LIST_ONLY = args.includes("--list-only");

const DENO = denoPath();
const EMPTY = benchPath("./testdata/empty.ts");
const REGISTRY = benchPath("../examples/registry");
const READ_PARSE = benchPath("./testdata/read_parse.ts");
const READ_PARSE_SYNC = benchPath("./testdata/read_parse_sync.ts");

const root = tempDir("detach_bench_startup_");

interface Side {
  name: string;
  /** Runs one timed iteration; returns the ms it took. */
  once(round: number): Promise<number>;
}

/**
 * A side that times `deno <args>` as a whole process, output discarded;
 * `before` runs, untimed, ahead of each.
 */
function process(
  name: string,
  argv: (round: number) => string[],
  options: { env?: Record<string, string>; before?: () => void } = {},
): Side {
  return {
    name,
    async once(round) {
      const args = argv(round);
      options.before?.();
      const t = performance.now();
      const out = await new Deno.Command(DENO, {
        args,
        env: options.env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      const took = performance.now() - t;
      if (out.code !== 0) {
        throw new Error(
          `deno ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`,
        );
      }
      after?.(new TextDecoder().decode(out.stdout));
      return took;
    },
  };
}

// Set by a detaching side: waits, untimed, for the job's supervisor to exit,
// so no background process competes with the next timed iteration.
let after: ((stdout: string) => void) | undefined;
let waits: Promise<void>[] = [];

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.ceil(at)] - s[lo]) * (at - lo);
}

/** Runs the sides interleaved and prints the table; the first is the base. */
async function compare(title: string, sides: Side[], rounds: number) {
  const times = sides.map(() => [] as number[]);
  for (let r = -2; r < rounds; r++) {
    for (let i = 0; i < sides.length; i++) {
      const took = await sides[i].once(r);
      await Promise.all(waits);
      waits = [];
      if (r >= 0) times[i].push(took);
    }
  }
  const base = quantile(times[0], 0.5);
  const load = Deno.loadavg().map((x) => x.toFixed(1)).join(" ");
  console.log(`\n${title}, ${rounds} interleaved rounds (load ${load}):`);
  console.log(
    "| process | median ms | quartiles ms | × base (medians) | × base (median of per-round ratios, range) |",
  );
  console.log("| --- | --- | --- | --- | --- |");
  sides.forEach((side, i) => {
    const xs = times[i];
    const ratios = xs.map((x, k) => x / times[0][k]);
    console.log(
      `| ${side.name} | ${quantile(xs, 0.5).toFixed(1)} | ${
        quantile(xs, 0.25).toFixed(1)
      }–${quantile(xs, 0.75).toFixed(1)} | ${
        (quantile(xs, 0.5) / base).toFixed(2)
      } | ${quantile(ratios, 0.5).toFixed(2)} (${
        quantile(ratios, 0.25).toFixed(2)
      }–${quantile(ratios, 0.75).toFixed(2)}) |`,
    );
  });
}

// --- goal 1: detaching, as whole processes ---------------------------------

const detachJobs = `${root}/detach-jobs`;
const store = new FileJobStore(detachJobs);
const detached = (stdout: string) => {
  // `--json` prints the ID as `jobId`, the text output as `Started job <ID>`.
  const jobId = stdout.startsWith("{")
    ? (JSON.parse(stdout) as { jobId: string }).jobId
    : /^Started job (\S+)/.exec(stdout)?.[1] ?? "";
  waits.push((async () => {
    // The supervisor records the end, then exits: wait for both.
    for (let i = 0; i < 3000; i++) {
      const job = await store.load(jobId);
      if (job.status !== "running") return await untilExited(job.pid);
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`Job ${jobId} did not end`);
  })());
};
const detaching = (name: string, argv: (round: number) => string[]): Side => {
  const side = process(name, argv);
  return {
    name,
    async once(round) {
      after = detached;
      try {
        return await side.once(round);
      } finally {
        after = undefined;
      }
    },
  };
};

/**
 * The main checkout's CLI, the state before this branch, if there is one:
 * `--before <mod.ts>`.
 */
const BEFORE = flagValue("--before");

/** `run --detach -- true` and `pull --detach` of the CLI at `mod`. */
function detachSides(mod: string, label: string): Side[] {
  return [
    detaching(`deno run -A ${label} run --detach -- true`, () => [
      "run",
      "-A",
      mod,
      "run",
      "--detach",
      "--jobs-dir",
      detachJobs,
      "--",
      "true",
    ]),
    detaching(`deno run -A ${label} pull <registry> --detach`, (r) => [
      "run",
      "-A",
      mod,
      "pull",
      REGISTRY,
      "--detach",
      "--jobs-dir",
      detachJobs,
      "-o",
      `${root}/pull-${label.replaceAll(/\W/g, "")}-${r + 2}.epack`,
    ]),
  ];
}

if (!LIST_ONLY) {
  await compare("Starting a job (goal 2: ≤ 1.3× an empty `deno run`)", [
    process("deno run -A <empty script> (base)", () => ["run", "-A", EMPTY]),
    process(
      "deno run -A cli/main.ts --version",
      () => ["run", "-A", CLI, "--version"],
    ),
    ...detachSides(CLI, "cli/main.ts"),
    process(
      "deno run -A mod.ts --version",
      () => ["run", "-A", MOD, "--version"],
    ),
    ...detachSides(MOD, "mod.ts"),
    ...(BEFORE === undefined ? [] : detachSides(BEFORE, "<before>/mod.ts")),
  ], ROUNDS);
}

// --- goal 3: listing --------------------------------------------------------

function listArgs(mod: string, dir: string): string[] {
  return ["run", "-A", mod, "jobs", "--all", "--json", "--jobs-dir", dir];
}

async function listing(count: number, rounds: number): Promise<string> {
  const dir = `${root}/list-${count}`;
  // Held until this program exits, as running supervisors would hold them.
  await writeJobs(new FileJobStore(dir), {
    count,
    running: 100,
    argv: [DENO, "run", "-A", MOD, "pull"],
  });
  const cli = JSON.parse(
    await runDeno([
      "run",
      "-A",
      MOD,
      "jobs",
      "--all",
      "--json",
      "--jobs-dir",
      dir,
    ]),
  ) as { jobs: { status: string }[] };
  const running = cli.jobs.filter((j) => j.status === "running").length;
  if (cli.jobs.length !== count || running !== 100) {
    throw new Error(`Bad setup: ${cli.jobs.length} jobs, ${running} running`);
  }
  await compare(
    `\`jobs --all --json\` over ${count} jobs (goal 4: ≤ 1.3× the sync floor)`,
    [
      process(
        "read_parse_sync.ts: sync read + JSON.parse + print (base)",
        () => [
          "run",
          "-A",
          READ_PARSE_SYNC,
          dir,
        ],
      ),
      process("read_parse.ts: async reads, 32 at a time", () => [
        "run",
        "-A",
        READ_PARSE,
        dir,
      ]),
      ...(BEFORE === undefined ? [] : [
        process(
          "<before>/mod.ts jobs --all --json",
          () => listArgs(BEFORE, dir),
        ),
      ]),
      process("cli/main.ts jobs --all --json", () => listArgs(CLI, dir)),
      process("mod.ts jobs --all --json", () => listArgs(MOD, dir)),
    ],
    rounds,
  );
  return dir;
}

/** Bytes of the records (*.json) in a directory. */
function recordBytes(dir: string): number {
  let total = 0;
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.name.endsWith(".json")) {
      total += Deno.statSync(`${dir}/${entry.name}`).size;
    }
  }
  return total;
}

/** Wall time and peak RSS (VmHWM, KiB) of one `deno <args>`. */
async function peak(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ ms: number; kib: number }> {
  const t = performance.now();
  const child = new Deno.Command(DENO, {
    args,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let kib = 0;
  const poll = setInterval(() => {
    try {
      const m = /^VmHWM:\s+(\d+) kB$/m.exec(
        Deno.readTextFileSync(`/proc/${child.pid}/status`),
      );
      if (m) kib = Math.max(kib, Number(m[1]));
    } catch {
      // Gone.
    }
  }, 5);
  const status = await child.status;
  clearInterval(poll);
  if (!status.success) throw new Error(`deno ${args.join(" ")} failed`);
  return { ms: performance.now() - t, kib };
}

await listing(10_000, Math.max(3, Math.round(ROUNDS / 2)));

if (BIG) {
  const dir = await listing(100_000, 3);
  const bytes = recordBytes(dir);
  const kinds: [string, Record<string, string>][] = [["jobs --all --json", {}]];
  // Through the CLI's entry, as the installed command runs it.
  const runs = kinds.map(() => [] as { ms: number; kib: number }[]);
  for (let i = 0; i < 3; i++) {
    for (const [k, [, env]] of kinds.entries()) {
      runs[k].push(await peak(listArgs(CLI, dir), env));
    }
  }
  console.log(
    `\n100,000 jobs, ${(bytes / 1048576).toFixed(1)} MiB of records ` +
      "(goal: ≤ 1500 ms, peak RSS ≤ 2× the records), 3 interleaved runs:",
  );
  console.log(
    "| listing | median ms (range) | VmHWM MiB (range) | × records |",
  );
  console.log("| --- | --- | --- | --- |");
  for (const [k, [name]] of kinds.entries()) {
    const ms = runs[k].map((r) => r.ms);
    const mib = runs[k].map((r) => r.kib / 1024);
    console.log(
      `| ${name} | ${quantile(ms, 0.5).toFixed(0)} (${
        Math.min(...ms).toFixed(0)
      }–${Math.max(...ms).toFixed(0)}) | ${quantile(mib, 0.5).toFixed(1)} (${
        Math.min(...mib).toFixed(1)
      }–${Math.max(...mib).toFixed(1)}) | ${
        (quantile(mib, 0.5) * 1048576 / bytes).toFixed(2)
      } |`,
    );
  }
}
Deno.exit(0);
