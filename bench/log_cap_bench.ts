// The log cap's throughput against a shell redirect, measured side by side
// in one run: a worker writes SIZE bytes as fast as it can, once to its log
// through `sh -c 'cmd >> log'` (the kernel writes it, as for an uncapped
// job) and once through the capped log (a pipe the supervisor copies), in
// alternating rounds. The figure is the ratio of the medians (capped
// throughput / redirect throughput), each timed from the start to the log
// being complete.
//
// deno run -A bench/log_cap_bench.ts [MiB] [rounds] [cap]

import { startCappedLog } from "../_log_cap.ts";

const mib = Number(Deno.args[0] ?? 512);
const rounds = Number(Deno.args[1] ?? 5);
const cap = Number(Deno.args[2] ?? 64 * 1024 * 1024);
const bytes = mib * 1024 * 1024;

const workers: [string, string][] = [
  ["head -c (8 KiB writes)", `head -c ${bytes} /dev/zero`],
  ["dd bs=64k", `dd if=/dev/zero bs=64k count=${bytes / 65536} status=none`],
  [
    "text lines (yes | head)",
    `yes 'a line of a log, as a worker writes it' | head -c ${bytes}`,
  ],
];

const dir = Deno.makeTempDirSync({ prefix: "detach_logcap_bench_" });
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

async function capped(cmd: string, max: number): Promise<number> {
  await Deno.remove(log).catch(() => {});
  const t0 = performance.now();
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", `exec /bin/sh -c "$0" 2>&1`, cmd],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const capLog = startCappedLog(log, child.stdout, { max });
  const status = await child.status;
  const end = await capLog.finish();
  const ms = performance.now() - t0;
  if (!status.success || end.received !== bytes || end.cutOff) {
    throw new Error(`capped run failed: ${JSON.stringify(end)}`);
  }
  if ((await Deno.stat(log)).size > max) throw new Error("log over its cap");
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

try {
  console.log(
    `log cap throughput: ${mib} MiB per run, ${rounds} rounds, cap ${cap} bytes`,
  );
  for (const [name, cmd] of workers) {
    const base: number[] = [];
    const withCap: number[] = [];
    const noRotation: number[] = [];
    for (let i = 0; i < rounds; i++) {
      base.push(await redirect(cmd));
      withCap.push(await capped(cmd, cap));
      noRotation.push(await capped(cmd, bytes * 2));
    }
    const b = median(base);
    const mbps = (ms: number) => (bytes / 1e6 / (ms / 1e3)).toFixed(0);
    console.log(
      `${name.padEnd(24)} redirect ${b.toFixed(0)} ms (${mbps(b)} MB/s)` +
        `  capped ${median(withCap).toFixed(0)} ms, ratio ${
          (b / median(withCap)).toFixed(2)
        }` +
        `  pipe only (cap never reached) ratio ${
          (b / median(noRotation)).toFixed(2)
        }`,
    );
  }
} finally {
  Deno.removeSync(dir, { recursive: true });
}
