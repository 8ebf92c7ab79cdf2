// Tests of the log cap's writer side with real workers writing real bytes
// through the plain redirect: when the log is rotated, what `<log>.1` and
// `<log>` hold, byte for byte, and what the rotation leaves behind.

import assert from "node:assert/strict";
import { startLogCap } from "./log_cap.ts";
import { REDIRECT } from "./worker.ts";
import { LOG_MAX_MIN } from "../store/job_options.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_logcap_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Runs `script` under sh with its output appended to `log`, as a worker. */
async function work(log: string, script: string): Promise<void> {
  const status = await new Deno.Command("/bin/sh", {
    args: ["-c", REDIRECT, "sh", log, "/bin/sh", "-c", script],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).output();
  assert.ok(status.success, `worker failed: ${status.code}`);
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await Deno.stat(path)).size;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return undefined;
    throw err;
  }
}

/** Lines `from`..`to` of 99 digits (100 bytes each), written in bursts. */
function numbered(from: number, to: number, pauseEvery = 0): string {
  const pause = pauseEvery > 0
    ? `[ $((i % ${pauseEvery})) -eq 0 ] && sleep 0.02; `
    : "";
  return `i=${from}; while [ $i -le ${to} ]; do printf "%099d\\n" $i; ${pause}i=$((i+1)); done`;
}

Deno.test("a log under half its cap is left as it is: no rotation, no byte added", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    await using cap = await startLogCap(log, 64 * 1024);
    await work(log, numbered(1, 300));
    await cap.workerEnded();
    assert.equal(await sizeOf(`${log}.1`), undefined);
    const lines = (await Deno.readTextFile(log)).split("\n");
    assert.equal(lines.length, 301);
    assert.equal(lines[299], String(300).padStart(99, "0"));
  });
});

Deno.test("a log that reaches half its cap is rotated to <log>.1, and the output kept is whole and in order", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    const max = 64 * 1024;
    await using cap = await startLogCap(log, max);
    // 2,000 lines of 100 bytes against a 64 KiB cap, in bursts slow enough
    // for the watch to keep up: nothing may be lost between the two files.
    await work(log, numbered(1, 2_000, 50));
    await cap.workerEnded();
    const older = await Deno.readTextFile(`${log}.1`);
    const newer = await Deno.readTextFile(log);
    // The newest half of the cap, from the start of a line.
    assert.ok(
      older.length > max / 2 - 100 && older.length <= max,
      `${older.length} bytes in <log>.1`,
    );
    assert.ok(newer.length < max / 2, `${newer.length} bytes in <log>`);
    // Rotations put nothing of their own into either file: whole lines, in
    // order, none twice. A write that falls between a rotation's last copy
    // and its truncate is lost: the one gap allowed is between the two
    // files, a few lines at most.
    const numbers = (text: string) =>
      text.split("\n").slice(0, -1).map((l) => {
        assert.match(l, /^\d{99}$/);
        return Number(l);
      });
    const [a, b] = [numbers(older), numbers(newer)];
    for (const list of [a, b]) {
      for (let i = 1; i < list.length; i++) {
        assert.equal(list[i], list[i - 1] + 1, `line ${i}`);
      }
    }
    const last = b.at(-1) ?? a.at(-1)!;
    assert.equal(last, 2_000);
    if (b.length > 0) {
      const gap = b[0] - a.at(-1)! - 1;
      assert.ok(gap >= 0 && gap <= 5, `${gap} lines lost at the rotation`);
    }
    // No temp file is left beside the log, and the rotation is private.
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.deepEqual(names, ["job.log", "job.log.1"]);
    assert.equal((await Deno.stat(`${log}.1`)).mode! & 0o777, 0o600);
  });
});

Deno.test("a worker's end rotates at once: the end is recorded with the log under its cap", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    await using cap = await startLogCap(log, LOG_MAX_MIN);
    // Written all at once, faster than a look: the end's look rotates it,
    // and keeps only the newest half of the cap (no line to start at).
    const bytes = new Uint8Array(LOG_MAX_MIN).fill(0x61);
    bytes.fill(0x62, LOG_MAX_MIN / 2);
    await Deno.writeFile(log, bytes);
    await cap.workerEnded();
    assert.equal(await sizeOf(log), 0);
    assert.deepEqual(
      await Deno.readFile(`${log}.1`),
      new Uint8Array(LOG_MAX_MIN / 2).fill(0x62),
    );
  });
});

Deno.test("a log far past its mark when seen keeps only the newest half of the cap, from a line's start", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    // 1 MB of numbered lines before the cap first looks.
    await work(log, numbered(1, 10_000));
    await using cap = await startLogCap(log, 64 * 1024);
    await cap.workerEnded();
    const older = await Deno.readTextFile(`${log}.1`);
    assert.ok(older.length <= 32 * 1024, `${older.length} bytes in <log>.1`);
    assert.ok(older.length > 32 * 1024 - 100);
    assert.match(older, /^\d{99}\n/);
    assert.ok(older.endsWith(`${String(10_000).padStart(99, "0")}\n`));
  });
});

Deno.test("each rotation replaces the one before: the oldest output is what the cap drops", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    await using cap = await startLogCap(log, LOG_MAX_MIN);
    for (const byte of [0x61, 0x62, 0x63]) {
      await Deno.writeFile(log, new Uint8Array(LOG_MAX_MIN / 2).fill(byte), {
        append: true,
      });
      await cap.workerEnded();
    }
    const older = await Deno.readFile(`${log}.1`);
    assert.deepEqual(older, new Uint8Array(LOG_MAX_MIN / 2).fill(0x63));
    assert.equal(await sizeOf(log), 0);
  });
});

Deno.test("a writer at disk speed passes the cap by what it writes between two looks and during a copy, no more", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    const max = 256 * 1024;
    await using cap = await startLogCap(log, max);
    let largest = 0;
    const sample = setInterval(() => {
      const now = [log, `${log}.1`].map((p) => {
        try {
          return Deno.statSync(p).size;
        } catch {
          return 0;
        }
      });
      largest = Math.max(largest, now[0] + now[1]);
    }, 2);
    try {
      await work(
        log,
        "yes 'a line of a log, as a worker writes it' | head -c 50000000",
      );
    } finally {
      clearInterval(sample);
    }
    await cap.workerEnded();
    assert.ok(((await sizeOf(`${log}.1`)) ?? 0) > 0, "rotated");
    assert.ok((await sizeOf(log))! < max / 2);
    // Soft: far past the cap (MBs, not KBs), but by far less than the
    // whole output (50 MB). (Bytes a writer this fast writes during the
    // last copy before a truncate are lost: bench/log_cap.ts measures it.)
    assert.ok(largest < 40_000_000, `the log reached ${largest} bytes`);
  });
});

Deno.test("a log that is not there yet, or was removed with its job, gets no <log>.1", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    await using cap = await startLogCap(log, LOG_MAX_MIN);
    await cap.workerEnded();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
    // Removed while a worker still holds it open and writes on.
    using file = await Deno.open(log, { write: true, create: true });
    await Deno.remove(log);
    await file.write(new Uint8Array(LOG_MAX_MIN));
    await cap.workerEnded();
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  });
});

Deno.test("a log that is a symlink is never rotated: what it points to is neither copied nor truncated", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    const victim = `${dir}/precious`;
    await Deno.writeFile(victim, new Uint8Array(LOG_MAX_MIN).fill(0x61));
    await Deno.symlink(victim, log);
    await using cap = await startLogCap(log, LOG_MAX_MIN);
    await cap.workerEnded();
    assert.equal(await sizeOf(victim), LOG_MAX_MIN);
    assert.equal(await sizeOf(`${log}.1`), undefined);
  });
});

Deno.test("startLogCap() refuses a cap out of range", async () => {
  await assert.rejects(
    () => startLogCap("/nonexistent/job.log", LOG_MAX_MIN - 1),
    RangeError,
  );
});
