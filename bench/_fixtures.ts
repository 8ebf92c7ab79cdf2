// What the benches share: paths, temporary directories, the 10,000-job
// fixture, the bare detached start that spawn() is measured against, and the
// checks and waits each iteration ends with.
//
// spawn_bench.ts, log_throughput.ts and measure.ts are also the supervisors of the
// jobs they spawn, and the programs their bare baselines start, so this file
// is loaded by every one of those processes: it does nothing when imported,
// and imports only what they load anyway (no node:url, which would add to the
// supervisor's start and memory).

import { join } from "node:path";
import type { FileJobStore, Job } from "../jobs.ts";
import { newJobId } from "../store/job_id.ts";
import { toRecord } from "../store/record.ts";
import { readProcess } from "../process/inspect.ts";

/** The deno binary running the benches. */
export function denoPath(): string {
  return Deno.execPath();
}

/** A path given relative to bench/, made absolute. */
export function benchPath(path: string): string {
  return join(import.meta.dirname!, path);
}

/** The module's entry point, which is also the CLI. */
export const MOD: string = benchPath("../mod.ts");
/** The CLI's own entry module, as the installed command runs it. */
export const CLI: string = benchPath("../cli/main.ts");

/**
 * Makes a temporary directory that is removed, with everything in it, when
 * the program unloads.
 */
export function tempDir(prefix: string): string {
  const dir = Deno.makeTempDirSync({ prefix });
  addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // Already gone.
    }
  });
  return dir;
}

/** `deno <args>`; its stdout, or an error with its stderr if it fails. */
export async function runDeno(args: string[]): Promise<string> {
  const out = await new Deno.Command(denoPath(), {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `deno ${args.join(" ")} exited with ${out.code}: ${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

/** How writeJobs() fills a jobs directory. */
export interface FixtureOptions {
  /** How many jobs. */
  count: number;
  /** How many of them, the newest, are running. */
  running: number;
  /** The argv every record holds. */
  argv: string[];
  /** What each job's log holds; without it, no log is written. */
  log?: Uint8Array;
}

/**
 * Writes `count` job records, one a second up to now, each with its liveness
 * file: the newest `running` are running, every tenth of the rest failed, the
 * others completed. The running jobs' liveness locks are then held, as their
 * supervisors would hold them, until the returned handles are disposed (the
 * benches keep them until they exit).
 *
 * Written directly rather than through JobStore.create(): 10,000 fsyncs would
 * take longer than the benchmarks.
 */
export async function writeJobs(
  store: FileJobStore,
  options: FixtureOptions,
): Promise<AsyncDisposable[]> {
  const { count, running, argv, log } = options;
  await store.ensureDir();
  const start = Date.now() - count * 1000;
  const ids = Array.from({ length: count }, () => newJobId());
  const write = async (i: number) => {
    const id = ids[i];
    const isRunning = i >= count - running;
    const job: Job = {
      id,
      command: "pull",
      args: [`https://registry.example.com/acme/app${i}`],
      flags: ["--env", "prod", "--ci"],
      status: isRunning ? "running" : i % 10 === 0 ? "failed" : "completed",
      pid: 10_000 + i,
      startedAt: new Date(start + i * 1000),
      logPath: store.logPath(id),
      workingDir: "/work",
      argv,
    };
    if (!isRunning) {
      job.completedAt = new Date(start + i * 1000 + 500);
      job.exitCode = i % 10 === 0 ? 1 : 0;
      job.result = { bytes: i * 1024, digest: `sha256:${"ab".repeat(32)}` };
    }
    await Deno.writeTextFile(
      store.recordPath(id),
      JSON.stringify(toRecord(job), null, 2) + "\n",
      { mode: 0o600 },
    );
    if (log !== undefined) {
      await Deno.writeFile(job.logPath, log, { mode: 0o600 });
    }
    await Deno.writeFile(store.livenessPath(id), new Uint8Array(), {
      mode: 0o600,
    });
  };
  for (let i = 0; i < count; i += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, count - i) }, (_, k) => write(i + k)),
    );
  }
  const held: AsyncDisposable[] = [];
  for (const id of ids.slice(count - running)) {
    held.push(await store.hold(id));
  }
  return held;
}

/**
 * The least a detached start can cost, the baseline spawn() is measured
 * against (issue 10, goal 2): `Deno.Command(...).spawn()` + `unref()` of
 * `argv`, with no stdio and `detached: true`. Ref the child again to await
 * its status.
 *
 * With `setsid`, the same start through that program instead (new session
 * by setsid(), posix_spawn rather than a fork of this process), as
 * launchSupervisor() does where it can: what spawn() itself could cost at
 * the least.
 */
export function bareStart(
  argv: string[],
  setsid?: string,
): Deno.ChildProcess {
  const child = new Deno.Command(setsid ?? argv[0], {
    args: setsid !== undefined ? argv : argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "null",
    detached: setsid === undefined,
  }).spawn();
  child.unref();
  return child;
}

/** Whether a process is there and not yet a zombie. */
export function alive(pid: number): boolean {
  const p = readProcess(pid);
  return p !== undefined && p.state !== "Z" && p.state !== "X";
}

/**
 * Waits until a process has exited: a job's end is recorded just before its
 * supervisor exits, so an iteration waits for this too before the next one.
 */
export async function untilExited(pid: number): Promise<void> {
  const end = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > end) throw new Error(`Process ${pid} did not exit`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The job, if it completed; an error saying how it ended otherwise. */
export function completed(job: Job): Job {
  if (job.status !== "completed") {
    throw new Error(`Job ${job.id} ended ${job.status}: ${job.error}`);
  }
  return job;
}
