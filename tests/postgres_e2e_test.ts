// Two "hosts" on one database (EPACK_DETACH_HOST): jobs started on host A
// by spawn(), seen and controlled from this process as host B, against a
// real throwaway PostgreSQL cluster.
import { cancel, waitForJob } from "../control.ts";
import { openStore } from "../store.ts";
import { HOST_ENV } from "../store/env.ts";
import { startCluster } from "../testdata/pg_cluster.ts";
import { removeSettled, until } from "../testdata/poll.ts";
import type { Job, JobStore } from "../store.ts";

function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}
function assertEquals<T>(actual: T, expected: T, msg = ""): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${msg} expected ${e}, got ${a}`);
}

const TTL = 3_000;
const RENEW = 1_000;

async function startOnA(url: string, dir: string, script: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../testdata/pg_spawn.ts", import.meta.url).pathname,
      url,
      script,
    ],
    cwd: dir,
    // Host A's logs go to its user's state directory: the test's own.
    env: { [HOST_ENV]: "host-a", XDG_STATE_HOME: `${dir}/state-a` },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert(out.success, new TextDecoder().decode(out.stderr));
  return text;
}

/** The job once `store` shows its worker. */
async function supervised(store: JobStore, id: string): Promise<Job> {
  return await until("supervised", async () => {
    const j = await store.load(id);
    return j.workerPid !== undefined ? j : undefined;
  }, 10_000);
}

/** When host A's last renewal pass ended (its state file's time), or 0. */
function lastPassAt(dir: string): number {
  const state = `${dir}/state-a/epack/logs/.renewer-host-a.state`;
  try {
    return JSON.parse(Deno.readTextFileSync(state)).at as number;
  } catch {
    return 0;
  }
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // A zombie (nobody reaps orphans here) has ended.
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function marked(id: string): number[] {
  const pids: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
      if (env.split("\0").includes(`EPACK_DETACH_JOB_ID=${id}`)) {
        if (alive(Number(e.name))) pids.push(Number(e.name));
      }
    } catch {
      // Gone, or not ours to read.
    }
  }
  return pids;
}

Deno.test("two hosts on one database", async (t) => {
  Deno.env.set(HOST_ENV, "host-b");
  await using cluster = await startCluster();
  const dir = await Deno.makeTempDir({ prefix: "detach_e2e_" });
  const url =
    `${cluster.url}?epack_lease_ttl=${TTL}&epack_renew_every=${RENEW}`;
  const leftovers: string[] = [];
  try {
    await using b = await openStore(url);

    await t.step(
      "a job started on A is listed on B, with its host",
      async () => {
        const id = await startOnA(url, dir, "echo hello; sleep 1");
        const { jobs } = await b.list();
        const job = jobs.find((j) => j.id === id);
        assert(job, "listed");
        assertEquals(job.host, "host-a");
        const ended = await waitForJob(id, { store: url, timeout: 20_000 });
        assertEquals(ended.status, "completed");
        const seen = await b.load(id);
        assertEquals(seen.logTail, "hello\n");
        assertEquals(seen.logPath, `${dir}/state-a/epack/logs/${id}.log`);
      },
    );

    await t.step(
      "cancel from B stops the job on A and its process tree",
      async () => {
        const id = await startOnA(url, dir, "sleep 300 & sleep 300; wait");
        leftovers.push(id);
        await until("running with its worker", async () => {
          const j = await b.load(id);
          return j.workerPid !== undefined && marked(id).length >= 3;
        }, 10_000);
        const t0 = Date.now();
        const result = await cancel(id, { store: url, grace: 1_000 });
        const took = Date.now() - t0;
        assertEquals(result.outcome, "cancelled", result.message);
        assertEquals(result.job.status, "cancelled");
        assert(took < RENEW * 1.1 + 3_000 + 1_000 + 2_000, `took ${took} ms`);
        assertEquals(marked(id), [], "processes left:");
      },
    );

    await t.step(
      "with no Deno process of A alive, its shims' renewal passes keep the lease",
      async () => {
        const id = await startOnA(url, dir, "sleep 300");
        leftovers.push(id);
        const job = await supervised(b, id);
        // Each pass is a process that runs once and exits; what it leaves
        // is its state file's time. Past three TTLs of passes, the job is
        // still running as B sees it, and no pass stays.
        const at = () => lastPassAt(dir);
        const first = Date.now();
        // The passes of this test's host A (its log directory is its own).
        const hostA = encodeURIComponent(`${dir}/state-a`);
        await until(
          "passes over three TTLs",
          () => at() > first + 3 * TTL,
          3 * TTL + 10_000,
          100,
        );
        assertEquals((await b.load(id)).status, "running");
        const passes = () =>
          [...Deno.readDirSync("/proc")].filter((e) => {
            try {
              const cmd = Deno.readTextFileSync(`/proc/${e.name}/cmdline`);
              const env = Deno.readTextFileSync(`/proc/${e.name}/environ`);
              return cmd.includes("--renew") && env.includes(hostA) &&
                alive(Number(e.name));
            } catch {
              return false;
            }
          });
        await until("no pass running", () => passes().length === 0, 10_000);
        Deno.kill(-job.workerPid!, "SIGKILL");
      },
    );

    await t.step(
      "a renewal pass stuck with the lock (SIGSTOP) is killed, and renewals go on",
      async () => {
        const id = await startOnA(url, dir, "sleep 300");
        leftovers.push(id);
        const job = await supervised(b, id);
        const logs = `${dir}/state-a/epack/logs`;
        const at = () => lastPassAt(dir);
        // A "pass" that takes the lock and stops itself, as a renewal pass
        // stopped with SIGSTOP would hold it.
        const stuck = new Deno.Command("perl", {
          args: [
            "-e",
            'open(F, ">>", $ARGV[0]) or die; flock(F, 2); kill("STOP", $$); sleep 600',
            `${logs}/.renewer-host-a`,
            "--renew",
          ],
        }).spawn();
        try {
          await until("the lock taken", () => {
            const s = Deno.readTextFileSync(`/proc/${stuck.pid}/stat`);
            return s.slice(s.lastIndexOf(")") + 2)[0] === "T" || undefined;
          }, 10_000);
          const held = Date.now();
          await until("a pass after the stuck one", () => at() > held, 30_000);
          assert((await stuck.status).signal === "SIGKILL", "killed");
          await until(
            "running again on B",
            async () => (await b.load(id)).status === "running",
            10_000,
          );
        } finally {
          try {
            stuck.kill("SIGKILL");
          } catch {
            // Gone.
          }
          await stuck.status;
          Deno.kill(-job.workerPid!, "SIGKILL");
        }
      },
    );

    await t.step(
      "SIGKILL to A's supervisor shows the job lost on B within the TTL",
      async () => {
        const id = await startOnA(url, dir, "sleep 300");
        leftovers.push(id);
        await until(
          "supervised",
          async () => (await b.load(id)).workerPid !== undefined,
          10_000,
        );
        const job = await b.load(id);
        Deno.kill(job.pid, "SIGKILL");
        const killed = Date.now();
        await until(
          "lost",
          async () => (await b.load(id)).status === "lost",
          TTL + 3_000,
          100,
        );
        const took = Date.now() - killed;
        console.log(`lost seen ${took} ms after SIGKILL (TTL ${TTL} ms)`);
        // Its worker still runs on A (nobody stopped it): clean up.
        Deno.kill(-job.workerPid!, "SIGKILL");
      },
    );

    await t.step(
      "a database restart while a job runs loses no end",
      async () => {
        // The job ends when the test says (a file appears), at most 30 s.
        const go = `${dir}/go`;
        const id = await startOnA(
          url,
          dir,
          `i=0; while [ ! -e ${go} ] && [ $i -lt 600 ]; do sleep 0.05; ` +
            `i=$((i+1)); done; exit 7`,
        );
        leftovers.push(id);
        const { workerPid } = await until("supervised", async () => {
          const j = await b.load(id);
          return j.workerPid !== undefined ? j : undefined;
        }, 10_000);
        await cluster.stop();
        // The job ends while the server is down.
        await Deno.writeTextFile(go, "");
        await until("the worker to end", () => !alive(workerPid!), 10_000);
        await cluster.start();
        const back = Date.now();
        await until(
          "its end recorded",
          async () => {
            try {
              return (await b.loadRecorded(id)).status !== "running";
            } catch {
              return false;
            }
          },
          20_000,
          100,
        );
        const ended = await b.load(id);
        assertEquals(ended.status, "failed");
        assertEquals(ended.exitCode, 7);
        // Dated when the worker ended, not when the server was back (the
        // shim sees the end a moment after this test may).
        const at = ended.completedAt!.getTime();
        assert(at < back, `ended at ${at}, the server back at ${back}`);
      },
    );
  } finally {
    for (const id of leftovers) {
      for (const pid of marked(id)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // Gone.
        }
      }
    }
    Deno.env.delete(HOST_ENV);
    await removeSettled(dir);
  }
});
