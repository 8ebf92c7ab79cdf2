// A program that uses @epack/detach the way a JSR user would: it detaches one
// of its own commands and exits at once, while the command runs on in the
// background and its end is recorded.
//
//   deno run --allow-read --allow-write --allow-run \
//     --allow-env=EPACK_DETACH_JOB_ID examples/detach_self.ts [--jobs-dir DIR]
//
// It prints the job's ID and log; `epack jobs <id>` (or waitForJob()) tells
// how the job ended. Started with `report`, it does the work itself, in the
// foreground: that is what the job runs.
//
// A user imports the module from JSR:
//
//   import { spawn, superviseIfRequested } from "jsr:@epack/detach";
//
// (or "@epack/detach" after `deno add jsr:@epack/detach`). JSR cannot be
// reached from our build machines, so this example imports the same entry
// point, mod.ts, by its relative path.

import { parseArgs } from "node:util";
import { spawn, superviseIfRequested } from "../mod.ts";

// The one line: when this program is started again as a job's supervisor,
// this call supervises the job and exits; otherwise it returns at once. It
// comes first, before the program looks at its arguments.
await superviseIfRequested();

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { "jobs-dir": { type: "string" } },
  allowPositionals: true,
});

if (positionals[0] === "report") {
  // The work: slow enough that the spawning process is long gone when it
  // ends.
  console.log(`report: started, PID ${Deno.pid}`);
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  console.log("report: done");
} else {
  // Detach `report`: spawn() starts this same program again, with the same
  // permissions, in a session of its own, and returns at once.
  const { jobId, logPath } = await spawn({
    subcommand: "report",
    ...(values["jobs-dir"] ? { store: values["jobs-dir"] } : {}),
  });
  console.log(`Started job ${jobId}`);
  console.log(`Log: ${logPath}`);
}
