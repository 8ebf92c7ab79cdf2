// A small program for tests: it cooperates as a supervisor (the one line),
// spawns a job from JSON options given as its first argument, and prints the
// SpawnResult as JSON. Started again as a worker, it runs one of the tiny
// commands below, so tests can detach the program's own commands.
//
//   deno run -A testdata/spawner.ts '{"command":"sleep","args":["0.2"],"store":"/tmp/j"}'
//   deno run -A testdata/spawner.ts '{"subcommand":"exit","args":["3"],"store":"/tmp/j"}'

import { spawn, type SpawnOptions, superviseIfRequested } from "../mod.ts";

await superviseIfRequested();

const [first, ...rest] = Deno.args;
switch (first) {
  case "echo":
    console.log(rest.join(" "));
    break;
  case "exit":
    Deno.exit(Number(rest[0] ?? 0));
    break;
  case "perms": {
    // Which permissions this process holds unscoped, one name per line.
    const names = ["read", "write", "net", "env", "sys", "run", "ffi"] as const;
    for (const name of names) {
      if (Deno.permissions.querySync({ name }).state === "granted") {
        console.log(name);
      }
    }
    break;
  }
  case "sleep":
    await new Promise((r) => setTimeout(r, Number(rest[0] ?? 0) * 1000));
    break;
  default: {
    // One options object spawns one job; an array spawns them all at once.
    try {
      const options = JSON.parse(first);
      const many = Array.isArray(options);
      const results = await Promise.all(
        (many ? options : [options]).map(async (o: SpawnOptions) => {
          const result = await spawn(o);
          return {
            jobId: result.jobId,
            pid: result.pid,
            logPath: result.logPath,
            argv: result.job.argv,
          };
        }),
      );
      console.log(JSON.stringify(many ? results : results[0]));
    } catch (err) {
      console.error(`${(err as Error).name}: ${(err as Error).message}`);
      Deno.exit(1);
    }
  }
}
