// Holds a job's liveness the way a supervisor does, until killed: the
// tests kill it with SIGKILL to see the lost rule work, or cancel its job
// (a cancel reaches it as SIGTERM, or as its lease's abort).
// Usage: deno run -A testdata/hold_job.ts <store> <id>
import { openStore } from "../store.ts";
import { keepRenewing } from "../spawn/launch.ts";

const [name, id] = Deno.args;
const store = await openStore(name);
const lease = await store.hold(id);
// On a store shared by hosts, the host's renewal passes keep the lease and
// passes on a cancel from another host as SIGTERM.
using _renewing = keepRenewing(store);
console.log(`held late=${lease.late}`);
await new Promise<void>((resolve) => {
  lease.cancelRequested.addEventListener("abort", () => {
    console.log("cancel requested");
    resolve();
  });
  Deno.addSignalListener("SIGTERM", () => {
    console.log("released on SIGTERM");
    resolve();
  });
});
await lease[Symbol.asyncDispose]();
await store[Symbol.asyncDispose]();
