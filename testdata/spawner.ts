// A small program for tests: it cooperates as a supervisor (the one line),
// spawns a job from JSON options given as its first argument, and prints the
// SpawnResult as JSON. Started again as a worker, it runs one of the tiny
// commands below, so tests can detach the program's own commands.
//
//   deno run -A testdata/spawner.ts '{"command":"sleep","args":["0.2"],"external":true,"jobsDir":"/tmp/j"}'
//   deno run -A testdata/spawner.ts '{"command":"exit","args":["3"],"jobsDir":"/tmp/j"}'

import { spawn, superviseIfRequested } from "../mod.ts";

await superviseIfRequested();

const [first, ...rest] = Deno.args;
switch (first) {
  case "echo":
    console.log(rest.join(" "));
    break;
  case "exit":
    Deno.exit(Number(rest[0] ?? 0));
    break;
  case "sleep":
    await new Promise((r) => setTimeout(r, Number(rest[0] ?? 0) * 1000));
    break;
  default: {
    try {
      const result = await spawn(JSON.parse(first));
      console.log(JSON.stringify({
        jobId: result.jobId,
        pid: result.pid,
        logPath: result.logPath,
        argv: result.job.argv,
      }));
    } catch (err) {
      console.error(`${(err as Error).name}: ${(err as Error).message}`);
      Deno.exit(1);
    }
  }
}
