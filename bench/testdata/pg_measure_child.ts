// The other process of bench/pg_measure.ts.
//   create <store>          prints the ms to open the store and create a job
//   detach <store> <dir>    prints the ms spawn() takes to detach `true`
//   watch <store> <id>      prints "ready", then "ended <epoch ms>"
//   hold <store|""> <id>    holds the job 1 s, prints peak RSS in KiB
//   holdmany <url> <id>...  holds all, prints "held", waits for SIGTERM
import { openStore } from "../../store.ts";
import { watchJob } from "../../control.ts";
import { spawn, superviseIfRequested } from "../../detach.ts";

// This program is also the supervisor of the jobs `detach` starts.
await superviseIfRequested();

const [cmd, name, ...rest] = Deno.args;

function peakRssKiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

if (cmd === "detach") {
  const t0 = performance.now();
  await spawn({ command: "true", store: name, workingDir: rest[0] });
  console.log(performance.now() - t0);
} else if (cmd === "create") {
  const t0 = performance.now();
  await using store = await openStore(name);
  await store.create({ command: "x" });
  console.log(performance.now() - t0);
} else if (cmd === "watch") {
  await using store = await openStore(name);
  let first = true;
  for await (
    const job of watchJob(rest[0], { store, timeout: 30_000 })
  ) {
    if (first) {
      console.log("ready");
      first = false;
    }
    if (job.status !== "running") console.log(`ended ${Date.now()}`);
  }
} else if (cmd === "hold") {
  if (name !== "") {
    await using store = await openStore(name);
    await using _lease = await store.hold(rest[0]);
    await new Promise((r) => setTimeout(r, 1_000));
  } else {
    await new Promise((r) => setTimeout(r, 1_000));
  }
  console.log(peakRssKiB());
} else if (cmd === "holdmany") {
  await using store = await openStore(name);
  const leases = await Promise.all(rest.map((id) => store.hold(id)));
  console.log("held");
  await new Promise<void>((r) => Deno.addSignalListener("SIGTERM", r));
  for (const l of leases) await l[Symbol.asyncDispose]();
}
