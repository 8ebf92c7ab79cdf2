// Holds the leases of many jobs in one process, as that many supervisors on
// one host would, until SIGTERM. Prints "held N" once all are held.
// Usage: deno run -A testdata/hold_many.ts <url> <id>...
import { PostgresJobStore } from "../postgres.ts";
import { keepRenewing } from "../spawn/launch.ts";

const [url, ...ids] = Deno.args;
const store = await PostgresJobStore.open(url);
const leases = [];
for (let i = 0; i < ids.length; i += 25) {
  leases.push(
    ...await Promise.all(ids.slice(i, i + 25).map((id) => store.hold(id))),
  );
}
// One renewal pass per period renews them all.
using _renewing = keepRenewing(store);
console.log(`held ${leases.length}`);
await new Promise<void>((resolve) => {
  Deno.addSignalListener("SIGTERM", resolve);
});
await Promise.all(leases.map((lease) => lease[Symbol.asyncDispose]()));
await store[Symbol.asyncDispose]();
