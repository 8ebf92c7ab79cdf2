// The log cap's throughput against a shell redirect, measured side by side
// in one run: a worker writes SIZE bytes as fast as it can, to its log
// through `sh -c 'cmd >> log'` (the kernel writes it, as for an uncapped
// job), then under the cap in place (the same redirect, the supervisor
// collapsing the log's front), then under the cap through the pipe, in
// alternating rounds. The figures are ratios of the medians (capped
// throughput / redirect throughput), each timed from the worker's start to
// the log being complete (the last trim done), and the largest size the
// log reached (the soft cap's overshoot).
//
// deno run -A bench/log_cap.ts [MiB] [rounds] [cap bytes] [dir]

import { type LogCapMode, startLogCap } from "../supervise/log_cap.ts";

const mib = Number(Deno.args[0] ?? 256);
const rounds = Number(Deno.args[1] ?? 5);
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

async function redirect(cmd: string): Promise<number> {
  await Deno.remove(log).catch(() => {});
  const t0 = performance.now();
  const out = await new Deno.Command("/bin/sh", {
    args: ["-c", `exec /bin/sh -c "$1" >>"$0" 2>&1`, log, cmd],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  const ms = performance.now() - t0;
  if (!out.success) throw new Error(`redirect failed: ${cmd}`);
  if ((await Deno.stat(log)).size !== bytes) throw new Error("short log");
  return ms;
}

async function capped(
  cmd: string,
  mode: LogCapMode,
): Promise<{ ms: number; largest: number; trims: number }> {
  await Deno.remove(log).catch(() => {});
  const logCap = await startLogCap(log, cap, { mode });
  let largest = 0;
  const sampling = setInterval(() => {
    Deno.stat(log).then((i) => largest = Math.max(largest, i.size), () => {});
  }, 5);
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", logCap.shell[0], logCap.shell[1], "/bin/sh", "-c", cmd],
    stdin: "null",
    stdout: logCap.stdout,
    stderr: "null",
  }).spawn();
  logCap.attach(child);
  const status = await child.status;
  await logCap.workerEnded();
  const ms = performance.now() - t0;
  clearInterval(sampling);
  const end = await logCap.finish();
  if (!status.success || end.error !== undefined) {
    throw new Error(`capped run failed: ${JSON.stringify(end)}`);
  }
  const size = (await Deno.stat(log)).size;
  if (size > cap) throw new Error(`log over its cap: ${size}`);
  return { ms, largest, trims: end.trims };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

try {
  const probe = await startLogCap(log, cap);
  await probe.finish();
  console.log(
    `log cap throughput: ${mib} MiB per run, ${rounds} rounds, cap ${cap} bytes, in ${dir} (auto mode here: ${probe.mode})`,
  );
  const modes: LogCapMode[] = probe.mode === "in-place"
    ? ["in-place", "pipe"]
    : ["pipe"];
  for (const [name, cmd] of workers) {
    const base: number[] = [];
    const runs = new Map(modes.map((m) => [m, [] as number[]]));
    const largest = new Map(modes.map((m) => [m, 0]));
    for (let i = 0; i < rounds; i++) {
      base.push(await redirect(cmd));
      for (const m of modes) {
        const r = await capped(cmd, m);
        runs.get(m)!.push(r.ms);
        largest.set(m, Math.max(largest.get(m)!, r.largest));
      }
    }
    const b = median(base);
    const mbps = (ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(0);
    let line = `${name.padEnd(24)} redirect ${b.toFixed(0)} ms (${
      mbps(b)
    } MB/s)`;
    for (const m of modes) {
      const t = median(runs.get(m)!);
      line += `  ${m} ${t.toFixed(0)} ms ratio ${(b / t).toFixed(2)} (largest ${
        (largest.get(m)! / 1e6).toFixed(1)
      } MB)`;
    }
    console.log(line);
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
