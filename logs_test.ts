// Specification of logs.ts: reading a job's log, its last lines, and
// following it while the job runs, with real files and real records.

import assert from "node:assert/strict";
import { FileJobStore } from "./jobs.ts";
import { followLog, readLog, readLogTail } from "./logs.ts";
import {
  type LogCapMode,
  readLogHeader,
  startLogCap,
} from "./supervise/log_cap.ts";

const text = new TextDecoder();

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  let all = "";
  for await (const chunk of chunks) all += text.decode(chunk);
  return all;
}

/** Polls `check` until it holds, or fails after `ms`. */
async function until(check: () => boolean, what: string, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A job record (running, as one just spawned is) with a log. */
async function withJob(
  fn: (store: FileJobStore, id: string, log: string) => Promise<void>,
  logMax?: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_logs_" });
  try {
    const store = new FileJobStore(dir);
    let job = await store.create({ command: "sh", args: ["-c", "true"] });
    // A job with a log cap says so in its record, as spawn() writes it.
    if (logMax !== undefined) {
      job = await store.update(job.id, (j) => ({ ...j, logMax }));
    }
    await Deno.writeTextFile(job.logPath, "");
    await fn(store, job.id, store.logPath(job.id));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("readLog() reads the whole log, from an offset, or its last lines", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "a\nb\nc\nd");
    const jobsDir = store.dir;
    assert.equal(await collect(readLog(id, { store: jobsDir })), "a\nb\nc\nd");
    assert.equal(
      await collect(readLog(id, { store: jobsDir, from: 4 })),
      "c\nd",
    );
    assert.equal(
      await collect(readLog(id, { store: jobsDir, lines: 2 })),
      "c\nd",
    );
    assert.equal(await collect(readLog(id, { store: jobsDir, lines: 0 })), "");
  });
});

Deno.test("readLogTail() returns the last lines without their newlines", async () => {
  await withJob(async (_store, _id, log) => {
    await Deno.writeTextFile(log, "1\n2\n3\n");
    const tail = await readLogTail(log, { lines: 2 });
    assert.deepEqual(tail.lines, ["2", "3"]);
    assert.equal(tail.truncated, false);
  });
});

Deno.test("followLog() yields what the job writes until it ends", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "one\n");
    let got = "";
    const reading = (async () => {
      for await (const c of followLog(id, { store: store.dir })) {
        got += text.decode(c);
      }
    })();
    await until(() => got === "one\n", "the first line");
    await Deno.writeTextFile(log, "two\n", { append: true });
    await until(() => got === "one\ntwo\n", "the appended line");
    await Deno.writeTextFile(log, "last", { append: true });
    await store.finish(id, { status: "completed", exitCode: 0 });
    await reading;
    assert.equal(got, "one\ntwo\nlast", "the bytes written before the end");
  });
});

Deno.test("followLog() goes on from the start of a truncated log, as tail -F", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "one\ntwo\n");
    let got = "";
    const truncations: { position: number; size: number }[] = [];
    const stop = new AbortController();
    const reading = (async () => {
      const chunks = followLog(id, {
        store: store.dir,
        signal: stop.signal,
        onTruncated: ({ position, size }) =>
          truncations.push({ position, size }),
      });
      for await (const c of chunks) got += text.decode(c);
    })();
    try {
      await until(() => got === "one\ntwo\n", "the log so far");
      // writeTextFile truncates, then writes: the follower may look in
      // between (size 0) or after (size 2); either way it reads "3\n" once.
      await Deno.writeTextFile(log, "3\n");
      await until(() => got === "one\ntwo\n3\n", "what follows the truncation");
      assert.equal(truncations.length, 1);
      assert.equal(truncations[0].position, 8);
      assert.ok([0, 2].includes(truncations[0].size));
      await store.finish(id, { status: "completed", exitCode: 0 });
      await reading;
    } finally {
      // A failed step must not leave the follower reading a removed dir.
      stop.abort();
      await reading.catch(() => {});
    }
  });
});

Deno.test("followLog() ends quietly when its signal aborts", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "x");
    const controller = new AbortController();
    let got = "";
    const reading = (async () => {
      const chunks = followLog(id, {
        store: store.dir,
        signal: controller.signal,
      });
      for await (const c of chunks) got += text.decode(c);
    })();
    await until(() => got === "x", "the log");
    controller.abort();
    await reading;
    assert.equal((await store.load(id)).status, "running");
  });
});

/**
 * A follower across the cap's trims: every byte of output yielded once, at
 * its place in what was written, or counted in a reported gap.
 */
async function followAcrossTrims(mode: LogCapMode): Promise<void> {
  await withJob(async (store, id, log) => {
    // A known sequence: 4-byte big-endian counters, so any byte's place in
    // the output is known from the bytes themselves too.
    const words = 2_000_000;
    const written = new Uint8Array(words * 4);
    const view = new DataView(written.buffer);
    for (let i = 0; i < words; i++) view.setUint32(i * 4, i);
    const src = `${store.dir}/src`;
    await Deno.writeFile(src, written);
    const cap = await startLogCap(log, 256 * 1024, { mode });
    assert.equal(cap.mode, mode);
    let pos = 0;
    let gaps = 0;
    let mismatch: string | undefined;
    let first = true;
    const following = (async () => {
      for await (
        const chunk of followLog(id, {
          store: store.dir,
          onDropped: ({ bytes }) => {
            gaps++;
            pos += bytes;
          },
        })
      ) {
        let data = chunk;
        if (first) {
          // The follower may begin after the first trim (this runs on
          // while the worker starts): its first bytes are then the header
          // and what follows it, or what follows a gap from a header it
          // saw and the test did not. Found by their content.
          first = false;
          const head = readLogHeader(chunk);
          if (head !== undefined) data = chunk.subarray(head.length);
          if ((head !== undefined || pos > 0) && data.length >= 8) {
            pos = placeOf(written, data);
          }
        }
        const want = written.subarray(pos, pos + data.length);
        if (mismatch === undefined && !sameBytes(data, want)) {
          mismatch = `at ${pos}: ${data.length} bytes differ`;
        }
        pos += data.length;
      }
    })();
    // Written in slices with pauses, so the follower reads between trims
    // and trims come while it is behind too.
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        cap.shell[0],
        cap.shell[1],
        "/bin/sh",
        "-c",
        `i=0; while [ $i -lt 40 ]; do dd if="$1" bs=200000 skip=$i count=1 status=none; sleep 0.02; i=$((i+1)); done`,
        "sh",
        src,
      ],
      stdin: "null",
      stdout: cap.stdout,
      stderr: "null",
    }).spawn();
    cap.attach(child);
    assert.ok((await child.status).success);
    await cap.workerEnded();
    const end = await cap.finish();
    assert.ok(end.trims >= 3, `${end.trims} trims`);
    await store.finish(id, { status: "completed", exitCode: 0 });
    await following;
    assert.equal(mismatch, undefined);
    assert.equal(pos, written.length, "every byte read once or reported");
    // The follower kept up for some of the trims at least.
    assert.ok(gaps < end.trims, `${gaps} gaps for ${end.trims} trims`);
  }, 256 * 1024);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

Deno.test("followLog() follows a log trimmed in place: each byte once, or the gap reported", async () => {
  const probe = await Deno.makeTempDir({ prefix: "detach_logs_" });
  let mode: LogCapMode;
  try {
    const cap = await startLogCap(`${probe}/p.log`, 1 << 20);
    mode = cap.mode;
    await cap.finish();
  } finally {
    await Deno.remove(probe, { recursive: true });
  }
  if (mode !== "in-place") return; // This file system cannot collapse.
  await followAcrossTrims("in-place");
});

Deno.test("followLog() follows a log the pipe cap swaps: each byte once, or the gap reported", async () => {
  await followAcrossTrims("pipe");
});

Deno.test("readLog() of a log being trimmed: each byte at its place, or the gap reported", async () => {
  for (const mode of ["in-place", "pipe"] as const) {
    if (mode === "in-place" && !(await canTrimInPlace())) continue;
    await withJob(async (store, id, log) => {
      const words = 1_000_000;
      const written = new Uint8Array(words * 4);
      const view = new DataView(written.buffer);
      for (let i = 0; i < words; i++) view.setUint32(i * 4, i);
      const src = `${store.dir}/src`;
      await Deno.writeFile(src, written);
      const cap = await startLogCap(log, 256 * 1024, { mode, maxInterval: 20 });
      const child = new Deno.Command("/bin/sh", {
        args: [
          "-c",
          cap.shell[0],
          cap.shell[1],
          "/bin/sh",
          "-c",
          `i=0; while [ $i -lt 40 ]; do dd if="$1" bs=100000 skip=$i count=1 status=none; sleep 0.03; i=$((i+1)); done`,
          "sh",
          src,
        ],
        stdin: "null",
        stdout: cap.stdout,
        stderr: "null",
      }).spawn();
      cap.attach(child);
      let running = true;
      const worker = child.status.then((s) => (running = false, s));
      let reads = 0;
      let gaps = 0;
      while (running) {
        // A slow reader (a pipe to a pager, say): trims come mid-read.
        // Where in the output the next byte read is: found from the first
        // chunk's own bytes (a gap may come before it, from a header the
        // test never saw), then moved by each chunk and each gap reported.
        let pos: number | undefined;
        let first = true;
        for await (
          const chunk of readLog(id, {
            store: store.dir,
            onDropped: ({ bytes }) => {
              gaps++;
              if (pos !== undefined) pos += bytes;
            },
          })
        ) {
          let data = chunk;
          if (first) {
            first = false;
            const head = readLogHeader(chunk);
            if (head !== undefined) data = chunk.subarray(head.length);
            // Too short to place (a log just begun): where a header says.
            pos = data.length >= 8
              ? placeOf(written, data)
              : head?.dropped ?? 0;
            if (head !== undefined) assert.equal(pos, head.dropped);
          }
          pos = pos!;
          const want = written.subarray(pos, pos + data.length);
          assert.ok(
            sameBytes(data, want),
            `${mode}, read ${reads}: ${data.length} bytes at ${pos} are not the output written there`,
          );
          pos += data.length;
          await new Promise((r) => setTimeout(r, 3));
        }
        reads++;
      }
      assert.ok((await worker).success);
      await cap.workerEnded();
      const end = await cap.finish();
      assert.ok(end.trims >= 3, `${end.trims} trims`);
      assert.ok(reads >= 3, `${reads} reads`);
      console.log(
        `    ${mode}: ${reads} reads, ${end.trims} trims, ${gaps} gaps reported`,
      );
    }, 256 * 1024);
  }
});

/** Where `data` (at least 8 bytes of 4-byte counters) is in `written`. */
function placeOf(written: Uint8Array, data: Uint8Array): number {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  for (let skew = 0; skew < 4; skew++) {
    const at = view.getUint32(skew) * 4 - skew;
    if (at >= 0 && sameBytes(data, written.subarray(at, at + data.length))) {
      return at;
    }
  }
  throw new Error(`${data.length} bytes found nowhere in the output`);
}

async function canTrimInPlace(): Promise<boolean> {
  const probe = await Deno.makeTempDir({ prefix: "detach_logs_" });
  try {
    const cap = await startLogCap(`${probe}/p.log`, 1 << 20);
    await cap.finish();
    return cap.mode === "in-place";
  } finally {
    await Deno.remove(probe, { recursive: true });
  }
}

Deno.test("readLogTail() of a log trimmed in place gives whole, consecutive last lines", async () => {
  if (!(await canTrimInPlace())) return;
  await withJob(async (_store, _id, log) => {
    const cap = await startLogCap(log, 64 * 1024, { minInterval: 1 });
    assert.equal(cap.mode, "in-place");
    // Numbered lines as fast as a shell writes them, for a few seconds.
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        cap.shell[0],
        cap.shell[1],
        "/bin/sh",
        "-c",
        'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); echo "line $i"; done',
      ],
      stdin: "null",
      stdout: cap.stdout,
      stderr: "null",
    }).spawn();
    cap.attach(child);
    let running = true;
    const worker = child.status.then((s) => (running = false, s));
    let tails = 0;
    while (running) {
      const { lines } = await readLogTail(log, { lines: 4000 });
      // The last line may be one the shell is writing: left out.
      const numbers = lines.slice(0, -1).filter((l) => l.startsWith("line "))
        .map((l) => Number(l.slice(5)));
      for (let i = 1; i < numbers.length; i++) {
        assert.equal(
          numbers[i],
          numbers[i - 1] + 1,
          `tail ${tails}: line ${numbers[i]} after line ${numbers[i - 1]}`,
        );
      }
      tails++;
    }
    assert.ok((await worker).success);
    const end = await cap.finish();
    assert.ok(end.trims >= 3, `${end.trims} trims`);
    console.log(`    ${tails} tails read across ${end.trims} trims`);
  }, 64 * 1024);
});

Deno.test("followLog() of a job without a cap takes a first line like the cap's header as output", async () => {
  await withJob(async (store, id, log) => {
    // The worker's first line looks like the cap's header, and comes in
    // two writes: a follower between them must not move.
    const child = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        `exec >>"$0" 2>&1; printf '[@epack/detach] 5 earlier bytes'; sleep 0.5; printf ' were dropped to keep this log under 9 bytes\\n'; echo after`,
        log,
      ],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const chunks: Uint8Array[] = [];
    let truncated = 0;
    let dropped = 0;
    const following = (async () => {
      for await (
        const chunk of followLog(id, {
          store: store.dir,
          onTruncated: () => truncated++,
          onDropped: () => dropped++,
        })
      ) chunks.push(chunk);
    })();
    // The follower has read the first half before the rest comes.
    await until(() => chunks.length > 0, "the first half read");
    assert.ok((await child.status).success);
    await store.finish(id, { status: "completed", exitCode: 0 });
    await following;
    const got = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let at = 0;
    for (const c of chunks) got.set(c, (at += c.length) - c.length);
    assert.equal(text.decode(got), await Deno.readTextFile(log));
    assert.equal(truncated, 0);
    assert.equal(dropped, 0);
  });
});
