// Tests of the capped log with real processes writing real bytes through a
// real pipe: what is kept, byte for byte, the header, the swap while a
// reader follows, and a grandchild that keeps the pipe open.

import assert from "node:assert/strict";
import {
  checkLogMax,
  followSwap,
  LOG_MAX_MIN,
  logHeader,
  parseSize,
  readLogHeader,
  startCappedLog,
} from "./_log_cap.ts";

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

Deno.test("parseSize() reads bytes with units and refuses what is not a size", () => {
  assert.equal(parseSize("4096"), 4096);
  assert.equal(parseSize("1B"), 1);
  assert.equal(parseSize("512KB"), 512_000);
  assert.equal(parseSize("512KiB"), 512 * 1024);
  assert.equal(parseSize("10MiB"), 10 * 1024 * 1024);
  assert.equal(parseSize("10 mb"), 10_000_000);
  assert.equal(parseSize("1.5MiB"), 1.5 * 1024 * 1024);
  assert.equal(parseSize("1.1KB"), 1100);
  assert.equal(parseSize("2GiB"), 2 * 1024 ** 3);
  for (
    const bad of [
      "",
      " ",
      "abc",
      "-1",
      "-1MiB",
      "0",
      "0KiB",
      "1.5B",
      "1.0001KiB",
      "10XB",
      "MiB",
      "1e3",
      "1,000",
      "0x10",
    ]
  ) {
    assert.throws(() => parseSize(bad), (err: Error) => {
      assert.ok(err instanceof RangeError, bad);
      assert.ok(!err.message.includes("\n"), "one line");
      assert.match(err.message, /^Invalid size: /);
      return true;
    });
  }
});

Deno.test("checkLogMax() is the one range check: from 4 KiB to the largest exact number", () => {
  assert.equal(checkLogMax(LOG_MAX_MIN), LOG_MAX_MIN);
  assert.equal(checkLogMax(parseSize("10MiB")), 10 * 1024 * 1024);
  assert.equal(checkLogMax(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
  for (
    const bad of [
      1,
      100,
      LOG_MAX_MIN - 1,
      0,
      -1,
      4096.5,
      NaN,
      Infinity,
      2 ** 53,
    ]
  ) {
    assert.throws(() => checkLogMax(bad), RangeError, String(bad));
  }
  assert.throws(() => checkLogMax("4096" as unknown as number), RangeError);
  // The smallest cap still leaves most of the log to output once the
  // header carries the largest count.
  assert.ok(logHeader(Number.MAX_SAFE_INTEGER, LOG_MAX_MIN).length < 128);
});

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
          logHeader(dropped, max),
        );
        assert.equal(end.dropped, dropped);
        assert.equal(dropped + data.length, src.length);
        assert.ok(data.length >= max / 2 - 128, "about half the cap is kept");
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
