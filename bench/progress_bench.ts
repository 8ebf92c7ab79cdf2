// The cost of a progress report (issue 13). A worker may report every chunk
// it reads, so a throttled report must cost about what building its JSON
// costs, and the write it leads to at most once per interval must cost
// about what any update of the record costs.
//
// Groups, each against a baseline in the same run:
// - "progress report": one reportProgress() call while the throttle holds
//   (a write happened within the interval, so the value is only kept),
//   and outside a job (only checked), against a bare JSON.stringify of the
//   same value;
// - "progress write": one write of a progress value to a jobs directory's
//   record through the reporter (progress() then flush()), against a bare
//   store.update() that sets the same value: what the reporter adds.
//
// `deno bench` runs one line's iterations, then the next line's, so in the
// write group the later line also pays for the earlier one's writeback (it
// came out 1.8x the baseline that way, and 1.0x taken in turn). Run as a
// program, this file takes the two writes in turn instead and prints the
// ratio:
//
//   deno bench -A bench/progress_bench.ts
//   deno run -A bench/progress_bench.ts     # the writes, taken in turn

import { reportProgress } from "../report.ts";
import { JobReporter } from "../store/reporter.ts";
import { FileJobStore } from "../jobs.ts";
import { tempDir } from "./_fixtures.ts";

const dir = tempDir("detach_bench_progress_");
const jobs = new FileJobStore(dir);
const job = await jobs.create({ command: "bench" });
const store = new FileJobStore(dir);

// A reporter whose throttle always holds: one write now, then an hour.
const held = new JobReporter({ jobId: job.id, store, interval: 3_600_000 });
held.progress({ done: 0 });
await held.flush();
let i = 0;

Deno.bench({
  name: "JSON.stringify(progress)",
  group: "progress report",
  baseline: true,
  fn() {
    JSON.stringify({ done: i++, total: 1e9, unit: "B", message: "Pulling" });
  },
});

Deno.bench({
  name: "reporter.progress() (throttled: kept, not written)",
  group: "progress report",
  fn() {
    held.progress({ done: i++, total: 1e9, unit: "B", message: "Pulling" });
  },
});

Deno.bench({
  name: "reportProgress() outside a job (checked only)",
  group: "progress report",
  fn() {
    reportProgress({ done: i++, total: 1e9, unit: "B", message: "Pulling" });
  },
});

const writer = new JobReporter({ jobId: job.id, store, interval: 50 });

Deno.bench({
  name: "store.update() setting the same progress",
  group: "progress write",
  baseline: true,
  async fn() {
    await store.update(job.id, (j) => {
      j.progress = {
        done: i++,
        total: 1e9,
        unit: "B",
        message: "Pulling",
        updatedAt: new Date(),
      };
      return j;
    });
  },
});

Deno.bench({
  name: "a progress write (reporter.progress() + flush())",
  group: "progress write",
  async fn() {
    writer.progress({ done: i++, total: 1e9, unit: "B", message: "Pulling" });
    await writer.flush();
  },
});

if (import.meta.main) {
  // Under `deno run` the benches above do not run: the two writes, in turn.
  const direct = () =>
    store.update(job.id, (j) => {
      j.progress = {
        done: i++,
        total: 1e9,
        unit: "B",
        message: "Pulling",
        updatedAt: new Date(),
      };
      return j;
    });
  const reported = async () => {
    writer.progress({ done: i++, total: 1e9, unit: "B", message: "Pulling" });
    await writer.flush();
  };
  const rounds = 300;
  let a = 0;
  let b = 0;
  for (let k = 0; k < rounds; k++) {
    let t = performance.now();
    await direct();
    a += performance.now() - t;
    t = performance.now();
    await reported();
    b += performance.now() - t;
  }
  console.log(
    `progress write, in turn over ${rounds} rounds: store.update() ${
      (a / rounds).toFixed(2)
    } ms, reporter ${(b / rounds).toFixed(2)} ms, ratio ${(b / a).toFixed(2)}`,
  );
}
