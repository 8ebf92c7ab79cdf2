// Holds a job's liveness the way a supervisor does, until killed: the
// conformance suite kills it with SIGKILL to see the lost rule work.
// Usage: deno run -A testdata/hold_job.ts <store> <id>
import { openStore } from "../store.ts";

const [name, id] = Deno.args;
const store = await openStore(name);
const lease = await store.hold(id);
console.log(`held late=${lease.late}`);
lease.cancelRequested.addEventListener("abort", () => {
  console.log("cancel requested");
});
// Stays until killed; a SIGTERM lets go as a supervisor would.
await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGTERM", resolve);
});
await lease[Symbol.asyncDispose]();
await store[Symbol.asyncDispose]();
