// How long after a job's end is recorded a waiter prints its last output
// and exits: `jobs wait`, `jobs logs -f` and waitForJob() in this process,
// against a baseline, a bare Deno script that watches the jobs directory
// and exits on the job's end (the floor for a Deno process woken by
// inotify). The waiters are ready (inotify watch armed; for `jobs logs -f`,
// the job's first line printed) before the job is told to end, so start-up
// is not counted. "Recorded" is when a separate recorder, idle on an
// inotify watch of the jobs directory, sees the supervisor's `E` line in
// the job's journal `<id>.live`; "last act" is the worker's last command,
// `date +%s%N`. Times are on the clock all processes share. A waiter has
// exited when its stdout closes, and is reaped when this bench has its
// status. The kinds take turns, so a noisy machine weighs on each alike.
//
//   deno run -A bench/wait_latency.ts [--rounds N] [--entry mod.ts]

import { spawn, superviseIfRequested, waitForJob } from "../mod.ts";
import { benchPath, CLI, tempDir } from "./_fixtures.ts";

await superviseIfRequested();

const i = Deno.args.indexOf("--rounds");
const ROUNDS = i < 0 ? 15 : Number(Deno.args[i + 1]);
const jobsDir = tempDir("detach_bench_wait_");
// The CLI's entry, as the installed command runs it; `--entry mod.ts` for
// the library's.
const e = Deno.args.indexOf("--entry");
const ENTRY = e < 0 ? CLI : benchPath(`../${Deno.args[e + 1]}`);
const clock = () => performance.timeOrigin + performance.now();

/** A script in the jobs directory, run by `deno run -A`. */
async function script(name: string, code: string): Promise<string> {
  const path = `${jobsDir}/${name}.ts`;
  await Deno.writeTextFile(path, code);
  return path;
}

// A journal's end: its `E` line (store/journal.ts).
const ENDED = String.raw`/^E .* \.$/m`;

const BASELINE = await script(
  "baseline",
  `const [dir, id] = Deno.args;
const journal = dir + "/" + id + ".live";
const watcher = Deno.watchFs(journal);
console.log("ready");
for await (const _ of watcher) {
  if (${ENDED}.test(Deno.readTextFileSync(journal))) {
    console.log("Job " + id + " ended");
    watcher.close();
  }
}`,
);

// Prints "<id> <time>" when it first sees a job's `E` line.
const RECORDER = await script(
  "recorder",
  `const dir = Deno.args[0];
const told = new Set();
const watcher = Deno.watchFs(dir, { recursive: false });
console.log("ready 0");
for await (const event of watcher) {
  const at = performance.timeOrigin + performance.now();
  for (const path of event.paths) {
    if (!path.endsWith(".live") || told.has(path)) continue;
    try {
      if (!${ENDED}.test(Deno.readTextFileSync(path))) continue;
      told.add(path);
      console.log(path.slice(dir.length + 1, -5) + " " + at);
    } catch {
      // Gone.
    }
  }
}`,
);

async function until(check: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Not within 30 s: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Each line a child prints, as it comes, with the time it came. */
function lines(
  child: Deno.ChildProcess,
  onLine: (line: string, at: number) => void,
): Promise<number> {
  return (async () => {
    let rest = "";
    for await (const chunk of child.stdout) {
      const at = clock();
      const parts = (rest + new TextDecoder().decode(chunk)).split("\n");
      rest = parts.pop()!;
      for (const line of parts) onLine(line, at);
    }
    return clock();
  })();
}

const recorder = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", RECORDER, jobsDir],
  stdin: "null",
  stdout: "piped",
}).spawn();
const ends = new Map<string, number>();
const recording = lines(recorder, (line) => {
  const [id, at] = line.split(" ");
  ends.set(id, Number(at));
});
await until(() => ends.has("ready"), "the recorder");

/** Inotify watches a process holds (Linux: /proc/<pid>/fdinfo). */
function inotifyWatches(pid: number | "self"): number {
  let n = 0;
  for (const fd of Deno.readDirSync(`/proc/${pid}/fd`)) {
    try {
      const target = Deno.readLinkSync(`/proc/${pid}/fd/${fd.name}`);
      if (target !== "anon_inode:inotify") continue;
      const info = Deno.readTextFileSync(`/proc/${pid}/fdinfo/${fd.name}`);
      n += info.split("\n").filter((l) => l.startsWith("inotify wd:")).length;
    } catch {
      // Closed meanwhile.
    }
  }
  return n;
}

/** CPU ticks a process has used (utime + stime). */
function ticks(pid: number): number {
  const fields = Deno.readTextFileSync(`/proc/${pid}/stat`).split(") ")[1]
    .split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/**
 * Until a waiter has used no CPU for 30 ms: done with its start and its
 * first look, so the end finds it waiting, as a user's would.
 */
async function idle(pid: number): Promise<void> {
  for (let i = 0, last = -1; i < 100; i++) {
    const now = ticks(pid);
    if (now === last) return;
    last = now;
    await new Promise((r) => setTimeout(r, 30));
  }
}

type Kind = "baseline" | "jobs wait" | "jobs logs -f" | "waitForJob()";
const KINDS: Kind[] = ["baseline", "jobs wait", "jobs logs -f", "waitForJob()"];

/** Milliseconds after the end was recorded, and after the last act. */
interface Sample {
  out: number;
  exited: number;
  reaped: number;
  outAct: number;
  exitedAct: number;
}

async function measure(kind: Kind): Promise<Sample> {
  const marker = `${jobsDir}/go-${crypto.randomUUID()}`;
  const { jobId } = await spawn({
    command: "sh",
    args: [
      "-c",
      'echo start; while [ ! -e "$0" ]; do sleep 0.005; done; echo end; date +%s%N >"$0.t"',
      marker,
    ],
    store: jobsDir,
  });
  let out = NaN;
  let exited: Promise<number>;
  let reaped: Promise<number>;
  if (kind === "waitForJob()") {
    const before = inotifyWatches("self");
    reaped = exited = waitForJob(jobId, { store: jobsDir }).then(() =>
      out = clock()
    );
    await until(() => inotifyWatches("self") > before, "the watch");
  } else {
    const args = kind === "baseline"
      ? ["run", "-A", BASELINE, jobsDir, jobId]
      : ["run", "-A", ENTRY, "jobs", ...kind.split(" ").slice(1), jobId];
    if (kind !== "baseline") args.push("--jobs-dir", jobsDir);
    const child = new Deno.Command(Deno.execPath(), {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
      env: { NO_COLOR: "1" },
    }).spawn();
    let first: string | undefined;
    exited = lines(child, (line, at) => {
      first ??= line;
      out = at;
    });
    reaped = child.status.then((s) => {
      if (!s.success) throw new Error(`${kind} exited with ${s.code}`);
      return clock();
    });
    // `jobs wait` is ready once it watches the record and the journal;
    // `jobs logs -f` (which watches the log too) once it printed a line.
    const ready = kind === "jobs wait"
      ? () => inotifyWatches(child.pid) >= 2
      : () => first !== undefined;
    await until(ready, `${kind} ready`);
    await idle(child.pid);
  }
  await Deno.writeTextFile(marker, "");
  const [exitedAt, reapedAt] = await Promise.all([exited, reaped]);
  await until(() => ends.has(jobId), "the end recorded");
  const at = ends.get(jobId)!;
  const act =
    Number(BigInt(Deno.readTextFileSync(`${marker}.t`).trim()) / 1000n) / 1000;
  return {
    out: out - at,
    exited: exitedAt - at,
    reaped: reapedAt - at,
    outAct: out - act,
    exitedAct: exitedAt - act,
  };
}

const samples = new Map<Kind, Sample[]>(KINDS.map((k) => [k, []]));
try {
  for (let r = -1; r < ROUNDS; r++) {
    // Each kind goes first, second... in turn; round -1 warms up.
    for (let k = 0; k < KINDS.length; k++) {
      const kind = KINDS[(k + Math.max(r, 0)) % KINDS.length];
      const sample = await measure(kind);
      if (r >= 0) samples.get(kind)!.push(sample);
    }
  }
} finally {
  recorder.kill();
  await recording;
  await recorder.status;
}

const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const q = (p: number) => s[Math.round((s.length - 1) * p)].toFixed(1);
  return `${q(0.5)} (${q(0)}–${q(1)})`;
};
console.log(
  `\nAfter a job's end is recorded (its \`E\` line), and after the worker's last act, ${ROUNDS} rounds, ms: median (range); load ${
    Deno.loadavg()[0].toFixed(1)
  }; goal: jobs wait exits ≤ 2 after the end, ≤ 6 after the last act`,
);
console.log(
  "| waiter | last output | exited (stdout closed) | reaped | output after the last act | exited after the last act |",
);
console.log("| --- | --- | --- | --- | --- | --- |");
for (const [kind, list] of samples) {
  const col = (f: (s: Sample) => number) => stats(list.map(f));
  console.log(
    `| ${kind} | ${col((s) => s.out)} | ${col((s) => s.exited)} | ${
      col((s) => s.reaped)
    } | ${col((s) => s.outAct)} | ${col((s) => s.exitedAct)} |`,
  );
}
console.log(
  "jobs logs -f prints the job's last line before its end is recorded, so its last output can come first.",
);
