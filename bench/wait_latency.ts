// Goal 4 of issue 10: how long after a job's end is recorded waitForJob()
// reports it. "Recorded" is when the final record is renamed into place,
// taken from a separate inotify watch on the jobs directory (its event comes
// ~0.1 ms after the rename here); the job is `sleep`, started by spawn().
//
//   deno run -A bench/wait_latency.ts [--rounds N]

import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { tempDir } from "./_fixtures.ts";

await superviseIfRequested();

const i = Deno.args.indexOf("--rounds");
const ROUNDS = i < 0 ? 15 : Number(Deno.args[i + 1]);
const jobsDir = tempDir("detach_bench_wait_");
const late: number[] = [];
for (let r = -1; r < ROUNDS; r++) {
  const { jobId } = await spawn({
    command: "sleep",
    args: ["0.3"],
    store: jobsDir,
  });
  const record = `${jobsDir}/${jobId}.json`;
  const watcher = Deno.watchFs(jobsDir, { recursive: false });
  let last = NaN;
  const pump = (async () => {
    for await (const event of watcher) {
      if (event.paths.includes(record)) last = performance.now();
    }
  })();
  const job = await waitForJob(jobId, { store: jobsDir });
  const at = performance.now();
  // Any later event on the record would mean it was not final.
  await new Promise((res) => setTimeout(res, 100));
  watcher.close();
  await pump;
  if (job.status !== "completed") throw new Error(`Job ended ${job.status}`);
  if (r >= 0) late.push(at - last);
}
late.sort((a, b) => a - b);
const q = (p: number) => late[Math.round((late.length - 1) * p)].toFixed(2);
console.log(`\nwaitForJob() after the end is recorded, ${ROUNDS} jobs:`);
console.log("| median ms | quartiles ms | max ms | goal |");
console.log("| --- | --- | --- | --- |");
console.log(`| ${q(0.5)} | ${q(0.25)}–${q(0.75)} | ${q(1)} | ≤ 2 (median) |`);
