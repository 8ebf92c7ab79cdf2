// Tests of the capped log with real processes writing real bytes through a
// real pipe: what is kept, byte for byte, the header, the swap while a
// reader follows, and a grandchild that keeps the pipe open.

import assert from "node:assert/strict";
import {
  followSwap,
  logHeader,
  readLogHeader,
  startCappedLog,
  startLogCap,
} from "./log_cap.ts";
import { LOG_MAX_MIN } from "../store/job_options.ts";

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_logcap_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Starts `script` under sh with stdout and stderr on one pipe. */
function worker(script: string, args: string[] = []): Deno.ChildProcess {
  return new Deno.Command("/bin/sh", {
    args: ["-c", `exec /bin/sh -c "$0" worker "$@" 2>&1`, script, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "null",
    detached: true,
  }).spawn();
}

/** Random bytes (not valid UTF-8, with every byte value) in a file. */
async function randomFile(path: string, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 65536) {
    crypto.getRandomValues(bytes.subarray(at, Math.min(size, at + 65536)));
  }
  await Deno.writeFile(path, bytes);
  return bytes;
}

/** Splits a capped log into what its header says was dropped and the rest. */
function split(log: Uint8Array): { dropped: number; data: Uint8Array } {
  const head = readLogHeader(log);
  return head === undefined
    ? { dropped: 0, data: log }
    : { dropped: head.dropped, data: log.subarray(head.length) };
}

Deno.test("a log under its cap gets the worker's bytes exactly, stdout and stderr in order", async () => {
  await withDir(async (dir) => {
    const src = await randomFile(`${dir}/src`, 3 * 1024 * 1024 + 17);
    const log = `${dir}/job.log`;
    const child = worker(`cat "$1"; echo err >&2; echo out`, [`${dir}/src`]);
    const capped = startCappedLog(log, child.stdout, { max: 8 * 1024 * 1024 });
    assert.equal((await child.status).code, 0);
    const end = await capped.finish();
    assert.deepEqual(end, {
      received: src.length + 8,
      dropped: 0,
      swaps: 0,
      cutOff: false,
      lost: 0,
    });
    const got = await Deno.readFile(log);
    assert.equal(readLogHeader(got), undefined);
    assert.deepEqual(got.subarray(0, src.length), src);
    assert.equal(
      new TextDecoder().decode(got.subarray(src.length)),
      "err\nout\n",
    );
  });
});

Deno.test("a log past its cap keeps a header and exactly the newest bytes", async (t) => {
  for (const max of [LOG_MAX_MIN, 64 * 1024, 1024 * 1024]) {
    await t.step(`cap ${max}`, async () => {
      await withDir(async (dir) => {
        const src = await randomFile(`${dir}/src`, 5 * 1024 * 1024 + 3);
        const log = `${dir}/job.log`;
        // Written in pieces of many sizes, so swaps fall everywhere.
        const child = worker(
          `{ for n in 1 7 4096 65536 100000 1000000; do dd bs=$n count=1 status=none; done; cat; } <"$1"`,
          [`${dir}/src`],
        );
        const capped = startCappedLog(log, child.stdout, { max });
        assert.equal((await child.status).code, 0);
        const end = await capped.finish();
        assert.equal(end.received, src.length);
        assert.equal(end.cutOff, false);
        const got = await Deno.readFile(log);
        assert.ok(got.length <= max, `${got.length} <= ${max}`);
        const { dropped, data } = split(got);
        assert.equal(
          new TextDecoder().decode(got.subarray(0, got.length - data.length)),
          logHeader(dropped, max, "pipe"),
        );
        assert.equal(end.dropped, dropped);
        assert.equal(dropped + data.length, src.length);
        // Half the cap, less the longest header line.
        assert.ok(
          data.length >= max / 2 - logHeader(2 ** 53 - 1, max, "pipe").length,
          "about half the cap is kept",
        );
        assert.deepEqual(data, src.subarray(dropped));
        // No temp file is left beside the log.
        const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
        assert.deepEqual(names, ["job.log", "src"]);
      });
    });
  }
});

Deno.test("a capped log appended to again counts on its header", async () => {
  await withDir(async (dir) => {
    const src = await randomFile(`${dir}/src`, 300 * 1024);
    const log = `${dir}/job.log`;
    const max = 64 * 1024;
    for (const [from, to] of [[0, 200 * 1024], [200 * 1024, src.length]]) {
      const child = worker(
        `dd bs=1024 skip=$2 count=$3 status=none <"$1"`,
        [`${dir}/src`, String(from / 1024), String((to - from) / 1024)],
      );
      const capped = startCappedLog(log, child.stdout, { max });
      await child.status;
      await capped.finish();
    }
    const got = await Deno.readFile(log);
    const { dropped, data } = split(got);
    assert.ok(got.length <= max);
    assert.equal(dropped + data.length, src.length);
    assert.deepEqual(data, src.subarray(dropped));
  });
});

Deno.test("a reader following the log by descriptor goes on across swaps without a byte twice", async () => {
  await withDir(async (dir) => {
    const src = await randomFile(`${dir}/src`, 2 * 1024 * 1024);
    const log = `${dir}/job.log`;
    const max = 256 * 1024;
    // Slow enough for the reader to keep up: 16 KiB every 10 ms.
    const child = worker(
      `i=0; while [ $i -lt 128 ]; do dd bs=16384 skip=$i count=1 status=none <"$1"; i=$((i+1)); sleep 0.01; done`,
      [`${dir}/src`],
    );
    const capped = startCappedLog(log, child.stdout, { max });
    const ended = child.status.then(() => capped.finish());
    let done = false;
    ended.then(() => done = true);
    // The reader: reads to the end, then looks for a swap, as followLog
    // would on each wake.
    while ((await Deno.stat(log).catch(() => undefined)) === undefined) {
      await new Promise((r) => setTimeout(r, 5));
    }
    let file = await Deno.open(log, { read: true });
    let pos = 0;
    let logical = 0;
    let swaps = 0;
    const buf = new Uint8Array(65536);
    try {
      for (;;) {
        const last = done;
        await file.seek(pos, Deno.SeekMode.Start);
        for (;;) {
          const n = await file.read(buf);
          if (n === null) break;
          // The first file has no header: everything read is output.
          const head = pos === 0
            ? readLogHeader(buf.subarray(0, n))
            : undefined;
          const skip = head?.length ?? 0;
          const chunk = buf.subarray(skip, n);
          assert.deepEqual(
            chunk,
            src.subarray(logical, logical + chunk.length),
            `bytes at ${logical}`,
          );
          logical += chunk.length;
          pos += n;
        }
        const next = await followSwap(log, file, pos);
        if (next !== undefined) {
          swaps++;
          file.close();
          file = next.file;
          logical += next.missed;
          pos = next.pos;
          continue;
        }
        if (last) break;
        await new Promise((r) => setTimeout(r, 3));
      }
    } finally {
      file.close();
    }
    await ended;
    assert.ok(swaps >= 4, `${swaps} swaps seen`);
    assert.equal(logical, src.length);
  });
});

Deno.test("a grandchild holding the pipe cannot hold the log's end for longer than the linger", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    const child = worker(`(sleep 30; echo late) & echo early`);
    try {
      const capped = startCappedLog(log, child.stdout, { max: LOG_MAX_MIN });
      assert.equal((await child.status).code, 0);
      const t0 = Date.now();
      const end = await capped.finish({ linger: 300 });
      const took = Date.now() - t0;
      assert.ok(took >= 250 && took < 5_000, `${took} ms`);
      assert.equal(end.cutOff, true);
      assert.equal(await Deno.readTextFile(log), "early\n");
    } finally {
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch {
        // Gone already.
      }
    }
  });
});

/**
 * Runs `argv` as a job's worker is run under `cap` (its shell line, its
 * stdout), and ends it as the supervisor does.
 */
async function runCapped(
  cap: Awaited<ReturnType<typeof startLogCap>>,
  argv: string[],
): Promise<void> {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", cap.shell[0], cap.shell[1], ...argv],
    stdin: "null",
    stdout: cap.stdout,
    stderr: "null",
    detached: true,
  }).spawn();
  cap.attach(child);
  const status = await child.status;
  assert.ok(status.success);
  await cap.workerEnded();
}

/** Checks a capped log against all that was written: header, tail, total. */
async function checkKept(
  log: string,
  written: Uint8Array,
  dropped: number,
  max: number,
): Promise<void> {
  const got = await Deno.readFile(log);
  const head = readLogHeader(got);
  assert.ok(head !== undefined, "the log starts with the header");
  assert.equal(head.dropped, dropped);
  const kept = got.subarray(head.length);
  // Every byte is either dropped and counted, or kept, exactly.
  assert.equal(head.dropped + kept.length, written.length);
  assert.deepEqual(kept, written.subarray(written.length - kept.length));
  assert.ok(got.length <= max, `${got.length} bytes within ${max}`);
  assert.ok(kept.length >= max / 2 - 2 * 4096, "about half the cap is kept");
}

// On Linux the temp dir is expected to allow it (ext4 here and in CI): a
// test that could not trim in place fails rather than skips.
const canTrimInPlace = await (async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_logcap_" });
  try {
    const cap = await startLogCap(`${dir}/probe.log`, 1 << 20);
    await cap.finish();
    return cap.mode === "in-place";
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
})();

Deno.test({
  name:
    "in place: a worker writing 50 MB through its redirect keeps a 1 MiB log: the header's count, the newest bytes exactly",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withDir(async (dir) => {
      const max = 1024 * 1024;
      const src = await randomFile(`${dir}/src`, 50 * 1024 * 1024 + 123);
      const log = `${dir}/job.log`;
      const cap = await startLogCap(log, max);
      assert.equal(cap.mode, "in-place");
      // The largest the log gets while the worker writes: the soft cap.
      let largest = 0;
      const sampling = setInterval(() => {
        try {
          largest = Math.max(largest, Deno.statSync(log).size);
        } catch { /* not there yet */ }
      }, 5);
      try {
        await runCapped(cap, ["dd", `if=${dir}/src`, "bs=64k", "status=none"]);
      } finally {
        clearInterval(sampling);
      }
      const end = await cap.finish();
      assert.equal(end.error, undefined);
      assert.ok(end.trims >= 1);
      await checkKept(log, src, end.dropped, max);
      // The header is one block, and the output after it starts at once.
      const got = await Deno.readFile(log);
      assert.equal(readLogHeader(got)?.length, 4096);
      assert.match(
        new TextDecoder().decode(got.subarray(0, 200)),
        /^\[@epack\/detach\] \d+ earlier bytes were dropped to keep this log under 1048576 bytes \(trimmed in place\)/,
      );
      console.log(`    largest log seen while writing: ${largest} bytes`);
    });
  },
});

Deno.test({
  name:
    "in place: what others append by path (a retry note) is kept in order, and a later attempt counts on the header",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withDir(async (dir) => {
      const max = 64 * 1024;
      const log = `${dir}/job.log`;
      const cap = await startLogCap(log, max, { maxInterval: 20 });
      const one = await randomFile(`${dir}/one`, 300_000);
      const two = await randomFile(`${dir}/two`, 200_000);
      await runCapped(cap, ["cat", `${dir}/one`]);
      const note = new TextEncoder().encode("[@epack/detach] attempt 2\n");
      await Deno.writeFile(log, note, { append: true });
      await runCapped(cap, ["cat", `${dir}/two`]);
      const end = await cap.finish();
      const all = new Uint8Array(one.length + note.length + two.length);
      all.set(one);
      all.set(note, one.length);
      all.set(two, one.length + note.length);
      await checkKept(log, all, end.dropped, max);
      // A new cap on the same log (a restarted supervisor) goes on counting.
      const again = await startLogCap(log, max);
      const three = await randomFile(`${dir}/three`, 100_000);
      await runCapped(again, ["cat", `${dir}/three`]);
      const end3 = await again.finish();
      const total = new Uint8Array(all.length + three.length);
      total.set(all);
      total.set(three, all.length);
      await checkKept(log, total, end3.dropped, max);
    });
  },
});

Deno.test("pipe mode, forced by the option or the environment, keeps the same promises", async () => {
  await withDir(async (dir) => {
    const max = 64 * 1024;
    const src = await randomFile(`${dir}/src`, 3 * 1024 * 1024 + 5);
    const log = `${dir}/job.log`;
    const cap = await startLogCap(log, max, { mode: "pipe" });
    assert.equal(cap.mode, "pipe");
    assert.equal(cap.stdout, "piped");
    await runCapped(cap, ["cat", `${dir}/src`]);
    const end = await cap.finish();
    assert.equal(end.mode, "pipe");
    assert.ok(end.trims >= 1);
    const got = await Deno.readFile(log);
    const head = readLogHeader(got);
    assert.ok(head !== undefined);
    assert.equal(head.dropped, end.dropped);
    const kept = got.subarray(head.length);
    assert.equal(head.dropped + kept.length, src.length);
    assert.deepEqual(kept, src.subarray(src.length - kept.length));
    assert.ok(got.length <= max);
    Deno.env.set("EPACK_DETACH_LOG_CAP", "pipe");
    try {
      const forced = await startLogCap(`${dir}/other.log`, 1 << 20);
      assert.equal(forced.mode, "pipe");
      await forced.finish();
    } finally {
      Deno.env.delete("EPACK_DETACH_LOG_CAP");
    }
  });
});

Deno.test("a cap of fewer than eight blocks, or a file system that cannot collapse (tmpfs), is kept through the pipe", async () => {
  await withDir(async (dir) => {
    const small = await startLogCap(`${dir}/small.log`, 16 * 1024);
    assert.equal(small.mode, "pipe");
    await small.finish();
  });
  let shm: string | undefined;
  try {
    shm = await Deno.makeTempDir({ dir: "/dev/shm", prefix: "detach_logcap_" });
  } catch {
    return; // No /dev/shm here.
  }
  try {
    const cap = await startLogCap(`${shm}/job.log`, 1 << 20);
    assert.equal(cap.mode, "pipe");
    await cap.finish();
    await assert.rejects(
      () => startLogCap(`${shm}/job.log`, 1 << 20, { mode: "in-place" }),
      /cannot be trimmed in place/,
    );
    // The probe leaves nothing behind.
    const left = [...Deno.readDirSync(shm)].map((e) => e.name);
    assert.deepEqual(left, []);
  } finally {
    await Deno.remove(shm, { recursive: true });
  }
});

Deno.test("a swap keeps the log's permissions: a private log stays private", async () => {
  await withDir(async (dir) => {
    const log = `${dir}/job.log`;
    // Logs are made owner-only: a job's output may hold secrets.
    await Deno.writeFile(log, new Uint8Array(), { mode: 0o600 });
    await Deno.chmod(log, 0o600);
    await randomFile(`${dir}/src`, 256 * 1024);
    const child = worker(`cat "$1"`, [`${dir}/src`]);
    const capped = startCappedLog(log, child.stdout, { max: LOG_MAX_MIN });
    assert.equal((await child.status).code, 0);
    const end = await capped.finish();
    assert.ok(end.swaps >= 1);
    assert.equal((await Deno.stat(log)).mode! & 0o777, 0o600);
  });
});

Deno.test({
  name:
    "in place: trimming works here, and a cap whose trims keep failing says so in the log",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    assert.ok(canTrimInPlace, "the temp dir cannot be trimmed in place");
    await withDir(async (dir) => {
      // A fallocate that works for the probe and fails afterwards.
      const fake = `${dir}/fallocate`;
      await Deno.writeTextFile(
        fake,
        `#!/bin/sh\nif [ -e "${dir}/probed" ]; then echo "disk on fire" >&2; exit 1; fi\n` +
          `touch "${dir}/probed"\nexec /usr/bin/fallocate "$@"\n`,
      );
      await Deno.chmod(fake, 0o755);
      const log = `${dir}/job.log`;
      const cap = await startLogCap(log, 64 * 1024, {
        fallocate: fake,
        maxInterval: 20,
      });
      assert.equal(cap.mode, "in-place");
      // Written over a second or so, so that the cap looks (and fails to
      // trim) several times while the worker runs, however fast it writes.
      await runCapped(cap, [
        "sh",
        "-c",
        "i=0; while [ $i -lt 20 ]; do head -c 100000 /dev/urandom; sleep 0.05; i=$((i+1)); done",
      ]);
      const end = await cap.finish();
      assert.ok(end.error !== undefined, "the failed trims were not reported");
      const text = new TextDecoder().decode(await Deno.readFile(log));
      assert.match(
        text,
        /\[@epack\/detach\] the log cap stopped: 3 trims in a row failed .*; the log is no longer kept under 65536 bytes\n/,
      );
    });
  },
});
