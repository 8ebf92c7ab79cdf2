// Starts a job on a PostgreSQL store from "another host" (the caller sets
// EPACK_DETACH_HOST), and prints its ID. The program is its own supervisor.
// Usage: deno run -A testdata/pg_spawn.ts <url> <shell script>
import { spawn, superviseIfRequested } from "../detach.ts";

await superviseIfRequested();
const [url, script] = Deno.args;
const { jobId } = await spawn({
  command: "/bin/sh",
  args: ["-c", script],
  store: url,
  grace: 1_000,
  workingDir: Deno.cwd(),
});
console.log(jobId);
