// Log throughput: a job that writes 1 GiB to stdout, from spawn() until
// waitForJob() returns (the end recorded), against the same command under a
// shell redirect (`sh -c 'head -c N /dev/zero > file'`), one of each in
// turn, so a noisy neighbour hits both. Each iteration checks that the log
// holds exactly N bytes, so a fast but lossy log fails the bench. With
// `--log-max`, the job's log is capped (the cap's own copy costs time).
//
//   deno run -A bench/log_throughput.ts [--runs 5] [--rounds 5] [--log-max 1MiB]

import { parseArgs } from "node:util";
import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { parseSize } from "../store/job_options.ts";
import { completed, tempDir } from "./_fixtures.ts";

await superviseIfRequested();

const { values } = parseArgs({
  options: {
    runs: { type: "string", default: "1" },
    rounds: { type: "string", default: "5" },
    "log-max": { type: "string" },
  },
});
const SIZE = 1024 * 1024 * 1024;
const dir = tempDir("detach_bench_log_");
const logMax = values["log-max"] === undefined
  ? undefined
  : parseSize(values["log-max"]);

async function settle(path: string, exact: boolean): Promise<void> {
  const { size } = await Deno.stat(path);
  if (exact ? size !== SIZE : size > SIZE) {
    throw new Error(`${path} holds ${size} bytes, expected ${SIZE}`);
  }
  // Its writeback kept out of the next iteration: behind a gigabyte of
  // writeback every fsync waits (spawn() does one).
  await Deno.remove(path);
  await new Deno.Command("sync").output();
}

async function redirect(): Promise<number> {
  const file = `${dir}/redirect.log`;
  const t = performance.now();
  const { code } = await new Deno.Command("sh", {
    args: ["-c", `head -c ${SIZE} /dev/zero > '${file}'`],
    stdin: "null",
  }).output();
  const took = performance.now() - t;
  if (code !== 0) throw new Error(`sh exited with ${code}`);
  await settle(file, true);
  return took;
}

async function job(): Promise<number> {
  const t = performance.now();
  const { jobId } = await spawn({
    command: "head",
    args: ["-c", String(SIZE), "/dev/zero"],
    store: dir,
    ...(logMax === undefined ? {} : { logMax }),
  });
  const ended = await waitForJob(jobId, { store: dir, timeout: 300_000 });
  const took = performance.now() - t;
  completed(ended);
  await settle(ended.logPath, logMax === undefined);
  return took;
}

const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.round((s.length - 1) * p)];
};
const what = logMax === undefined
  ? "uncapped"
  : `--log-max ${values["log-max"]}`;
console.log(
  `\n1 GiB log (${what}): throughput of a job against a shell redirect, ${values.runs} runs of ${values.rounds} interleaved rounds (goal ≥ 0.9×)`,
);
console.log(
  "| run | redirect ms (median) | job ms (median) | × redirect's throughput: median (range) | load |",
);
console.log("| --- | --- | --- | --- | --- |");
try {
  for (let run = 1; run <= Number(values.runs); run++) {
    const base: number[] = [];
    const ours: number[] = [];
    await redirect(); // warm-up, untimed
    for (let r = 0; r < Number(values.rounds); r++) {
      base.push(await redirect());
      ours.push(await job());
    }
    const ratios = base.map((b, i) => b / ours[i]);
    console.log(
      `| ${run} | ${q(base, 0.5).toFixed(0)} | ${q(ours, 0.5).toFixed(0)} | ${
        q(ratios, 0.5).toFixed(2)
      } (${q(ratios, 0).toFixed(2)}–${q(ratios, 1).toFixed(2)}) | ${
        Deno.loadavg()[0].toFixed(1)
      } |`,
    );
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
