// What the portable process inspector (`ps`) costs against /proc, side by
// side in one run: a stop of a job's group (SIGTERM, wait until it is gone,
// with the job's mark swept), and a lost-job check (is this group the
// job's?). /proc needs -A.
//
//   deno bench -A bench/process_bench.ts

import {
  identifyGroup,
  type ProcessInspector,
  ProcFsInspector,
  readProcess,
  setProcessInspector,
  signalGroup,
} from "../process/inspect.ts";
import { PsInspector } from "../process/ps.ts";
import { stopProcessGroup } from "../timeout.ts";

const MARK_ID = `bench_${Deno.pid}`;
const MARK = `EPACK_DETACH_JOB_ID=${MARK_ID}`;

/** A job-like group: a shell leading its group, with one child, marked. */
function startGroup(id = MARK_ID): Deno.ChildProcess {
  return new Deno.Command("sh", {
    args: ["-c", "sleep 30 & wait"],
    env: { EPACK_DETACH_JOB_ID: id },
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

const inspectors: [string, () => ProcessInspector][] = [
  ["/proc", () => new ProcFsInspector()],
  ["ps", () => new PsInspector()],
];

for (const [name, make] of inspectors) {
  Deno.bench({
    name: `stop a job's group, mark swept (${name})`,
    group: "stop",
    baseline: name === "/proc",
    n: 30,
    warmup: 3,
    async fn(b) {
      setProcessInspector(make());
      const child = startGroup();
      // Let the child start, so there is a tree to stop.
      await new Promise((r) => setTimeout(r, 30));
      b.start();
      await stopProcessGroup(child.pid, { grace: 5_000, mark: MARK });
      b.end();
      await child.status;
      setProcessInspector(undefined);
    },
  });
}

// Another job's mark: the stops above must not sweep it away.
const LOST_MARK = `${MARK}_lost`;
const lost = startGroup(`${MARK_ID}_lost`);
await new Promise((r) => setTimeout(r, 100));
for (const [name, make] of inspectors) {
  const inspector = make();
  setProcessInspector(inspector);
  const info = readProcess(lost.pid);
  const stamp = { ticks: info?.startTicks, time: info?.startTime };
  setProcessInspector(undefined);
  Deno.bench({
    name: `lost-job check: identify the group by start and mark (${name})`,
    group: "identify",
    baseline: name === "/proc",
    n: 100,
    warmup: 5,
    fn() {
      setProcessInspector(inspector);
      // Seconds only, as a record written under ps holds: the mark decides.
      if (
        identifyGroup(lost.pid, { time: stamp?.time }, LOST_MARK)?.length !== 2
      ) {
        throw new Error("the group was not identified");
      }
      setProcessInspector(undefined);
    },
  });
}

globalThis.addEventListener("unload", () => {
  signalGroup(lost.pid, "SIGKILL");
});
