// The log cap against a plain shell redirect, side by side in one run:
//
// - throughput: a worker writes SIZE bytes as fast as it can to its log
//   through the redirect every job uses, without a cap and then under the
//   cap, in alternating rounds; the figure is the ratio of the medians, each
//   timed from the worker's start to the log being complete (the last look
//   done). With it, how far past the cap the log grew: the largest size
//   `<log>` was seen at (sampled every millisecond) and the largest
//   `<log>.1` + `<log>` (the cap is soft: a writer faster than the watch
//   passes it);
// - the same under the perl shim's cap (its own rotation, in perl): the
//   worker run as a job's, from its launch until its end is journaled;
// - loss: a writer of fixed-width numbered records (`seq`) under the cap,
//   rotations caught as they happen (the inode of `<log>.1` changes), and
//   at each one the gap between the end of `<log>.1` and the start of
//   `<log>`: the bytes written between the last copy and the truncate.
//
// deno run -A bench/log_cap.ts [MiB] [rounds] [cap bytes] [dir]

import { startLogCap } from "../supervise/log_cap.ts";
import { REDIRECT } from "../supervise/worker.ts";
import { FileJobStore } from "../jobs.ts";
import { waitForJob } from "../control.ts";
import { launchSupervisor } from "../spawn/launch.ts";
import { readJournal } from "../store/journal.ts";

const mib = Number(Deno.args[0] ?? 1024);
const rounds = Number(Deno.args[1] ?? 3);
const cap = Number(Deno.args[2] ?? 1024 * 1024);
const bytes = mib * 1024 * 1024;

const workers: [string, string][] = [
  ["head -c (8 KiB writes)", `head -c ${bytes} /dev/zero`],
  ["dd bs=64k", `dd if=/dev/zero bs=64k count=${bytes / 65536} status=none`],
  [
    "text lines (yes | head)",
    `yes 'a line of a log, as a worker writes it' | head -c ${bytes}`,
  ],
];

const dir = await Deno.makeTempDir({
  prefix: "detach_logcap_bench_",
  ...(Deno.args[3] === undefined ? {} : { dir: Deno.args[3] }),
});
const log = `${dir}/job.log`;

function size(path: string): number {
  try {
    return Deno.statSync(path).size;
  } catch {
    return 0;
  }
}

function worker(cmd: string): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: ["-c", REDIRECT, "sh", log, "/bin/sh", "-c", cmd],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function clear(): Promise<void> {
  await Deno.remove(log).catch(() => {});
  await Deno.remove(`${log}.1`).catch(() => {});
}

async function redirect(cmd: string): Promise<number> {
  await clear();
  // The same sampling as under the cap, so both sides pay for it.
  const sampling = setInterval(() => size(log) + size(`${log}.1`), 1);
  const t0 = performance.now();
  const status = await worker(cmd).status;
  const ms = performance.now() - t0;
  clearInterval(sampling);
  if (!status.success || size(log) !== bytes) throw new Error(`failed: ${cmd}`);
  return ms;
}

interface Capped {
  ms: number;
  /** The largest `<log>` seen. */
  largest: number;
  /** The largest `<log>.1` + `<log>` seen. */
  total: number;
  /** The largest `<log>.1` seen: what a rotation copied. */
  old: number;
}

async function capped(cmd: string): Promise<Capped> {
  await clear();
  const logCap = await startLogCap(log, cap);
  let largest = 0;
  let total = 0;
  let old = 0;
  const sampling = setInterval(() => {
    const now = size(log);
    const copy = size(`${log}.1`);
    largest = Math.max(largest, now);
    total = Math.max(total, now + copy);
    old = Math.max(old, copy);
  }, 1);
  const t0 = performance.now();
  const status = await worker(cmd).status;
  await logCap.workerEnded();
  const ms = performance.now() - t0;
  clearInterval(sampling);
  await logCap[Symbol.asyncDispose]();
  if (!status.success) throw new Error(`capped run failed: ${cmd}`);
  total = Math.max(total, size(log) + size(`${log}.1`));
  return { ms, largest, total, old };
}

const SUPERVISE = new URL("../_supervise.ts", import.meta.url).pathname;

/**
 * The same, under the cap of the perl shim that supervises a job (its own
 * rotation): the worker as a job's, timed from the launch until the end is
 * in its journal.
 */
async function shimmed(cmd: string): Promise<Capped> {
  const store = new FileJobStore(`${dir}/jobs`);
  const job = await store.create({
    command: "sh",
    argv: ["/bin/sh", "-c", cmd],
    logMax: cap,
    workingDir: dir,
  });
  let largest = 0;
  let total = 0;
  let old = 0;
  const sampling = setInterval(() => {
    const now = size(job.logPath);
    const copy = size(`${job.logPath}.1`);
    largest = Math.max(largest, now);
    total = Math.max(total, now + copy);
    old = Math.max(old, copy);
  }, 1);
  const t0 = performance.now();
  launchSupervisor([Deno.execPath(), "run", "-A", SUPERVISE], store, job);
  const live = store.livenessPath(job.id);
  while (readJournal(live)?.end === undefined) {
    await new Promise((r) => setTimeout(r, 1));
  }
  const ms = performance.now() - t0;
  clearInterval(sampling);
  const ended = await waitForJob(job.id, { store, timeout: 60_000 });
  if (ended.status !== "completed") throw new Error(`shim run: ${ended.error}`);
  await store.delete(job.id);
  return { ms, largest, total, old };
}

/** Record width of `seq -f %015.0f`: 15 digits and a newline. */
const WIDTH = 16;

/** Where in the written stream a file's bytes begin and end. */
function span(text: string): { start: number; end: number } | undefined {
  const first = text.indexOf("\n");
  const last = text.lastIndexOf("\n", text.length - 2);
  if (first < 0 || last < 0 || last <= first) return undefined;
  // The first whole record follows the first newline; the last whole one
  // ends with the last newline.
  const k = Number(text.slice(first + 1, first + WIDTH));
  const j = Number(text.slice(last + 1, last + WIDTH));
  const start = (k - 1) * WIDTH - (first + 1);
  const end = j * WIDTH + (text.length - (last + 1 + WIDTH));
  return { start, end };
}

/** Bytes lost at each rotation caught, for a fast writer of records. */
async function losses(): Promise<number[]> {
  await clear();
  const logCap = await startLogCap(log, cap);
  const child = worker(`seq -f %015.0f 1 ${Math.floor(bytes / WIDTH)}`);
  const lost: number[] = [];
  let ino: number | null = null;
  // The end of the rotation just caught, until the start of `<log>` is read.
  let pending: number | undefined;
  let done = false;
  child.status.then(() => done = true);
  const inode = () => {
    try {
      return Deno.statSync(`${log}.1`).ino;
    } catch {
      return null; // Not rotated yet.
    }
  };
  while (!done) {
    const now = inode();
    if (now !== ino) {
      ino = now;
      pending = now === null
        ? undefined
        : span(Deno.readTextFileSync(`${log}.1`))?.end;
    }
    if (pending !== undefined) {
      const newer = span(Deno.readTextFileSync(log));
      // Counted only if no newer rotation came between the two reads.
      if (newer !== undefined && inode() === ino) {
        lost.push(newer.start - pending);
        pending = undefined;
      }
    }
    await new Promise((r) => setTimeout(r, 0));
  }
  await logCap[Symbol.asyncDispose]();
  return lost;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const mb = (n: number) => (n / 1e6).toFixed(1);

try {
  console.log(
    `log cap: ${mib} MiB per run, ${rounds} rounds, cap ${cap} bytes (rotated at ${
      Math.floor(cap / 2)
    }), in ${dir}`,
  );
  for (const [name, cmd] of workers) {
    const base: number[] = [];
    const runs: Capped[] = [];
    const shim: Capped[] = [];
    for (let i = 0; i < rounds; i++) {
      base.push(await redirect(cmd));
      runs.push(await capped(cmd));
      shim.push(await shimmed(cmd));
    }
    const b = median(base);
    const t = median(runs.map((r) => r.ms));
    const mbps = (ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(0);
    console.log(
      `${name.padEnd(24)} redirect ${b.toFixed(0)} ms (${mbps(b)} MB/s), ` +
        `capped ${t.toFixed(0)} ms (${mbps(t)} MB/s), ratio ${
          (b / t).toFixed(2)
        }; largest <log> ${
          mb(Math.max(...runs.map((r) => r.largest)))
        } MB, <log>.1 ${mb(Math.max(...runs.map((r) => r.old)))} MB, ` +
        `<log>.1 + <log> ${mb(Math.max(...runs.map((r) => r.total)))} MB`,
    );
    const st = median(shim.map((r) => r.ms));
    console.log(
      `${"".padEnd(24)} under the shim ${st.toFixed(0)} ms (${
        mbps(st)
      } MB/s), ` +
        `ratio ${(b / st).toFixed(2)}; largest <log> ${
          mb(Math.max(...shim.map((r) => r.largest)))
        } MB, <log>.1 ${mb(Math.max(...shim.map((r) => r.old)))} MB, ` +
        `<log>.1 + <log> ${mb(Math.max(...shim.map((r) => r.total)))} MB`,
    );
  }
  const lost = await losses();
  const some = lost.filter((n) => n > 0);
  console.log(
    `loss at a rotation (seq -f %015.0f, ${lost.length} rotations caught): ` +
      `none at ${lost.length - some.length}; median ${
        lost.length > 0 ? median(lost) : "-"
      } bytes, max ${lost.length > 0 ? Math.max(...lost) : "-"} bytes`,
  );
} finally {
  await Deno.remove(dir, { recursive: true });
}
