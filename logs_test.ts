// Specification of logs.ts: reading a job's log, its last lines, and
// following it while the job runs, with real files, real records and a real
// writer process. The log cap's rotations are made here, as the spec says
// the supervisor makes them (copy `<id>.log` into `<id>.log.1`, cut
// `<id>.log` to 0), so that the readers are tested on their own.

import { removeSettled } from "./testdata/poll.ts";
import assert from "node:assert/strict";
import { FileJobStore } from "./jobs.ts";
import { followLog, type LogEvent, readLog, readLogTail } from "./logs.ts";
import { readTail as keptTail } from "./store/pg_support.ts";
import { PostgresJobStore } from "./postgres.ts";
import { startCluster } from "./testdata/pg_cluster.ts";

const text = new TextDecoder();

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<string> {
  let all = "";
  for await (const chunk of chunks) all += text.decode(chunk);
  return all;
}

/** Polls `check` until it holds, or fails after `ms`. */
async function until(
  check: () => boolean | Promise<boolean>,
  what: string,
  ms = 15_000,
): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A job record (running, as one just spawned is) with an empty log. */
async function withJob(
  fn: (store: FileJobStore, id: string, log: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "detach_logs_" });
  try {
    const store = new FileJobStore(dir);
    const job = await store.create({ command: "sh", args: ["-c", "true"] });
    await fn(store, job.id, store.logPath(job.id));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * A rotation as the log cap makes one: `<id>.log`'s bytes copied into a
 * temp file, renamed over `<id>.log.1`, then `<id>.log` cut to 0. Returns
 * how many bytes were copied.
 */
async function rotate(log: string): Promise<number> {
  const bytes = await Deno.readFile(log);
  const dir = log.slice(0, log.lastIndexOf("/"));
  const temp = `${dir}/.rotate.tmp`;
  await Deno.writeFile(temp, bytes, { mode: 0o600 });
  await Deno.rename(temp, `${log}.1`);
  await Deno.truncate(log, 0);
  return bytes.length;
}

/** A record of the writer: its number on 15 digits and a newline. */
const RECORD = 16;
const record = (i: number) => String(i).padStart(RECORD - 1, "0") + "\n";

/**
 * A real process that appends numbered records to the log (O_APPEND, one
 * write per record, as a worker under the shell's redirect) until told to
 * stop. It can be stopped (SIGSTOP) around a rotation made by the test, so
 * that no record falls between the copy and the truncate.
 */
class Writer {
  readonly #child: Deno.ChildProcess;
  readonly #stop: string;
  #ended: Promise<number> | undefined;

  constructor(log: string) {
    this.#stop = `${log}.stop`;
    this.#child = new Deno.Command("perl", {
      args: [
        "-e",
        `open(my $f, ">>", $ARGV[0]) or die "$ARGV[0]: $!";
         my $i = 0;
         until (-e $ARGV[1]) {
           syswrite($f, sprintf("%015d\\n", ++$i)) for 1 .. 16;
           select(undef, undef, undef, 0.001);
         }
         print "$i\\n";`,
        log,
        this.#stop,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
  }

  async #state(): Promise<string> {
    const out = await new Deno.Command("ps", {
      args: ["-o", "stat=", "-p", String(this.#child.pid)],
      stdout: "piped",
    }).output();
    return text.decode(out.stdout).trim();
  }

  /** Stops it, and waits until it is stopped (no write under way). */
  async pause(): Promise<void> {
    Deno.kill(this.#child.pid, "SIGSTOP");
    await until(async () => (await this.#state()).startsWith("T"), "stopped");
  }

  resume(): void {
    try {
      Deno.kill(this.#child.pid, "SIGCONT");
    } catch (err) {
      // Told to stop, it may have ended already.
      if (!(err instanceof Deno.errors.NotFound)) throw err;
    }
  }

  /** Tells it to stop writing; returns how many records it wrote. */
  end(): Promise<number> {
    this.#ended ??= (async () => {
      await Deno.writeTextFile(this.#stop, "");
      this.resume();
      const out = await this.#child.output();
      assert.ok(out.success, "the writer failed");
      return Number(text.decode(out.stdout));
    })();
    return this.#ended;
  }
}

/** The records `from` to `to`, as the writer wrote them. */
function records(from: number, to: number): string {
  let all = "";
  for (let i = from; i <= to; i++) all += record(i);
  return all;
}

/**
 * A follower pulled by the test: it reads only when the test asks, so the
 * test decides where it is when a rotation comes.
 */
class Follower {
  readonly events: string[] = [];
  #it: AsyncIterator<Uint8Array>;
  #got: Uint8Array[] = [];
  received = 0;

  constructor(store: FileJobStore, id: string) {
    this.#it = followLog(id, {
      store: store.dir,
      onEvent: (e: LogEvent) => this.events.push(e.kind),
    })[Symbol.asyncIterator]();
  }

  /** Reads until it has at least `n` bytes in all. */
  async pullTo(n: number): Promise<void> {
    while (this.received < n) {
      const r = await this.#it.next();
      assert.ok(!r.done, `ended after ${this.received} bytes, short of ${n}`);
      this.#got.push(r.value);
      this.received += r.value.length;
    }
  }

  /** Reads to the end (the job must have ended). */
  async rest(): Promise<string> {
    for (;;) {
      const r = await this.#it.next();
      if (r.done) break;
      this.#got.push(r.value);
      this.received += r.value.length;
    }
    return this.#got.map((c) => text.decode(c)).join("");
  }

  async close(): Promise<void> {
    await this.#it.return?.();
  }
}

const sizeOf = async (path: string) => (await Deno.stat(path)).size;

Deno.test("readLog() reads the whole log, or its last lines", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "a\nb\nc\nd");
    const at = store.dir;
    assert.equal(await collect(readLog(id, { store: at })), "a\nb\nc\nd");
    assert.equal(await collect(readLog(id, { store: at, lines: 2 })), "c\nd");
    assert.equal(await collect(readLog(id, { store: at, lines: 0 })), "");
  });
});

Deno.test("readLog() of a rotated log: <id>.log.1 then <id>.log, the rotation told once", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(`${log}.1`, "1\n2\n3\n");
    await Deno.writeTextFile(log, "4\n5");
    const events: LogEvent[] = [];
    const onEvent = (e: LogEvent) => events.push(e);
    const at = store.dir;
    assert.equal(
      await collect(readLog(id, { store: at, onEvent })),
      "1\n2\n3\n4\n5",
    );
    assert.deepEqual(events, [{ kind: "rotated", path: log }]);
    // The last lines, across both files; a start after the rotated file's
    // start says nothing.
    events.length = 0;
    assert.equal(
      await collect(readLog(id, { store: at, lines: 3, onEvent })),
      "3\n4\n5",
    );
    assert.equal(await collect(readLog(id, { store: at, lines: 1 })), "5");
    assert.deepEqual(events, []);
  });
});

Deno.test("readLog() between a rotation's rename and its truncate reads no byte twice", async () => {
  await withJob(async (store, id, log) => {
    // <id>.log.1 is a copy of the start of <id>.log, and 3 came after the
    // copy: the truncate is due.
    await Deno.writeTextFile(log, "1\n2\n3\n");
    await Deno.writeTextFile(`${log}.1`, "1\n2\n");
    assert.equal(await collect(readLog(id, { store: store.dir })), "1\n2\n3\n");
    assert.deepEqual((await readLogTail(log, { lines: 5 })).lines, [
      "1",
      "2",
      "3",
    ]);
    // A follower there goes on after the truncate, with nothing more to
    // tell (the copy now holds all it read).
    await Deno.writeTextFile(`${log}.1`, "1\n2\n3\n");
    const follower = new Follower(store, id);
    try {
      await follower.pullTo(6);
      await Deno.truncate(log, 0);
      await Deno.writeTextFile(log, "4\n", { append: true });
      await follower.pullTo(8);
      await store.finish(id, { status: "completed", exitCode: 0 });
      assert.equal(await follower.rest(), "1\n2\n3\n4\n");
      assert.deepEqual(follower.events, ["rotated"]);
    } finally {
      await follower.close();
    }
  });
});

Deno.test("readLogTail() takes the last lines across <id>.log.1 and <id>.log", async () => {
  await withJob(async (_store, _id, log) => {
    await Deno.writeTextFile(log, "1\n2\n3\n");
    assert.deepEqual(await readLogTail(log, { lines: 2 }), {
      lines: ["2", "3"],
      truncated: false,
      bytesRead: 6 + 4,
    });
    // A rotation just before the end: <id>.log is empty.
    await rotate(log);
    assert.deepEqual((await readLogTail(log, { lines: 2 })).lines, ["2", "3"]);
    await Deno.writeTextFile(log, "4\n5");
    assert.deepEqual((await readLogTail(log, { lines: 3 })).lines, [
      "3",
      "4",
      "5",
    ]);
    // Back to the rotated file's start: output before it was dropped, so
    // its first line may be cut.
    const all = await readLogTail(log, { lines: 9 });
    assert.deepEqual(all.lines, ["1", "2", "3", "4", "5"]);
    assert.equal(all.truncated, true);
  });
});

Deno.test("readLogTail() reads a bounded number of bytes of a huge line without a newline", async () => {
  await withJob(async (_store, _id, log) => {
    const size = 64 * 1024 * 1024;
    for (const path of [`${log}.1`, log]) {
      // Sparse: 64 MiB of zeros, no newline in either file.
      using f = await Deno.open(path, { write: true, create: true });
      await f.truncate(size);
    }
    const tail = await readLogTail(log, { lines: 10, maxBytes: 64 * 1024 });
    assert.equal(tail.lines.length, 1);
    assert.equal(tail.lines[0].length, 64 * 1024);
    assert.equal(tail.truncated, true);
    assert.ok(tail.bytesRead <= 2 * 64 * 1024, `read ${tail.bytesRead} bytes`);
    // The bound reaches back into <id>.log.1 when <id>.log is shorter.
    await Deno.writeTextFile(log, "end");
    const across = await readLogTail(log, { lines: 1, maxBytes: 1024 });
    assert.equal(across.lines[0].length, 1024);
    assert.ok(across.lines[0].endsWith("\0end"));
    assert.ok(across.bytesRead <= 2 * 1024 + 3, `read ${across.bytesRead}`);
  });
});

Deno.test("the PostgreSQL store's kept tail is the last 8 KiB across <id>.log.1 and <id>.log", async () => {
  await withJob(async (_store, _id, log) => {
    assert.equal(await keptTail(`${log}.missing`), undefined);
    await Deno.writeTextFile(`${log}.1`, "a".repeat(10_000) + "\0\n");
    await Deno.writeTextFile(log, "last\n");
    const kept = await keptTail(log);
    assert.equal(kept, "a".repeat(8192 - 7) + "\nlast\n");
  });
});

Deno.test("readLog(), readLogTail() and followLog() of an empty log", async () => {
  await withJob(async (store, id, log) => {
    assert.equal(await collect(readLog(id, { store: store.dir })), "");
    assert.deepEqual(await readLogTail(log), {
      lines: [],
      truncated: false,
      bytesRead: 0,
    });
    const following = collect(followLog(id, { store: store.dir }));
    await store.finish(id, { status: "completed", exitCode: 0 });
    assert.equal(await following, "");
  });
});

Deno.test("a missing log, or one that is not a regular file, is a clear error", async () => {
  await withJob(async (store, id, log) => {
    await Deno.remove(log);
    await assert.rejects(readLogTail(log), Deno.errors.NotFound);
    await assert.rejects(
      collect(readLog(id, { store: store.dir })),
      Deno.errors.NotFound,
    );
    await assert.rejects(
      collect(followLog(id, { store: store.dir })),
      Deno.errors.NotFound,
    );
    // A FIFO would block the reader until a writer came: refused.
    const made = await new Deno.Command("mkfifo", { args: [log] }).output();
    assert.ok(made.success);
    await assert.rejects(readLogTail(log), /not a regular file \(a FIFO\)/);
    await assert.rejects(
      collect(followLog(id, { store: store.dir })),
      /not a regular file \(a FIFO\)/,
    );
  });
});

Deno.test("an <id>.log.1 that is not a regular file is ignored, and said so once", async (t) => {
  const outside = await Deno.makeTempDir({ prefix: "detach_logs_out_" });
  try {
    await Deno.writeTextFile(`${outside}/secret`, "secret\n");
    const makers: Record<string, (path: string) => Promise<void>> = {
      "a symbolic link out of the jobs directory": (path) =>
        Deno.symlink(`${outside}/secret`, path),
      "a FIFO": async (path) => {
        const r = await new Deno.Command("mkfifo", { args: [path] }).output();
        assert.ok(r.success);
      },
      "a directory": (path) => Deno.mkdir(path),
    };
    for (const [what, make] of Object.entries(makers)) {
      await t.step(what, async () => {
        await withJob(async (store, id, log) => {
          await make(`${log}.1`);
          await Deno.writeTextFile(log, "kept\n");
          const events: LogEvent[] = [];
          const onEvent = (e: LogEvent) => events.push(e);
          const at = store.dir;
          assert.equal(
            await collect(readLog(id, { store: at, onEvent })),
            "kept\n",
          );
          assert.equal(
            await collect(readLog(id, { store: at, lines: 9 })),
            "kept\n",
          );
          assert.deepEqual((await readLogTail(log)).lines, ["kept"]);
          assert.deepEqual(events, [{ kind: "ignored", path: `${log}.1` }]);
          // A follower is told once too, however often it looks.
          const follower = new Follower(store, id);
          try {
            await follower.pullTo(5);
            await Deno.writeTextFile(log, "more\n", { append: true });
            await Deno.truncate(log, 0);
            await Deno.writeTextFile(log, "after\n", { append: true });
            await store.finish(id, { status: "completed", exitCode: 0 });
            const got = await follower.rest();
            assert.ok(got.startsWith("kept\n") && got.endsWith("after\n"));
            assert.ok(!got.includes("secret"));
            assert.deepEqual(
              follower.events.filter((e) => e !== "truncated"),
              ["ignored"],
            );
          } finally {
            await follower.close();
          }
        });
      });
    }
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
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

Deno.test("followLog() follows rotations while a writer runs: every byte once, in order", async () => {
  await withJob(async (store, id, log) => {
    const writer = new Writer(log);
    const follower = new Follower(store, id);
    try {
      // Where <id>.log's first byte is in the output.
      let base = 0;
      for (let round = 0; round < 8; round++) {
        await until(async () => (await sizeOf(log)) >= 4096, "output");
        if (round % 2 === 0) {
          // The follower behind: it read part of this generation, the
          // writer wrote on, and the rotation comes.
          await follower.pullTo(base + 1);
          const read = follower.received - base;
          await until(async () => (await sizeOf(log)) > read + 64, "more");
          await writer.pause();
        } else {
          // The follower caught up when the rotation comes.
          await writer.pause();
          await follower.pullTo(base + (await sizeOf(log)));
        }
        base += await rotate(log);
        writer.resume();
      }
      const written = await writer.end();
      await store.finish(id, { status: "completed", exitCode: 0 });
      const got = await follower.rest();
      assert.ok(got === records(1, written), "every record once, in order");
      assert.deepEqual(follower.events, []);
    } finally {
      await follower.close();
      await writer.end();
    }
  });
});

Deno.test("followLog() says once that two rotations between two reads dropped output", async () => {
  await withJob(async (store, id, log) => {
    const writer = new Writer(log);
    const follower = new Follower(store, id);
    try {
      await until(async () => (await sizeOf(log)) >= 4096, "output");
      await follower.pullTo(1);
      const before = follower.received;
      assert.equal(before % RECORD, 0);
      // The follower does not read while two rotations go by, the first
      // with output it has not read.
      await until(async () => (await sizeOf(log)) > before, "unread output");
      await writer.pause();
      const first = await rotate(log);
      writer.resume();
      await until(async () => (await sizeOf(log)) >= 4096, "more output");
      await writer.pause();
      const second = await rotate(log);
      writer.resume();
      const written = await writer.end();
      await store.finish(id, { status: "completed", exitCode: 0 });
      const got = await follower.rest();
      // What it read, then the oldest output kept (the second rotation's
      // copy) and all that followed: the first generation's rest is gone.
      assert.ok(first > before);
      assert.ok(
        got === records(1, before / RECORD) +
            records(first / RECORD + 1, written),
        `${got.length} bytes, not what was kept (${second} + ...)`,
      );
      assert.deepEqual(follower.events, ["dropped"]);
    } finally {
      await follower.close();
      await writer.end();
    }
  });
});

Deno.test("followLog() says a truncation by someone else and reads on from the start, as tail -F", async () => {
  await withJob(async (store, id, log) => {
    const writer = new Writer(log);
    const follower = new Follower(store, id);
    try {
      await until(async () => (await sizeOf(log)) >= 4096, "output");
      await follower.pullTo(1);
      const before = follower.received;
      await writer.pause();
      const cut = await sizeOf(log);
      await Deno.truncate(log, 0);
      writer.resume();
      const written = await writer.end();
      await store.finish(id, { status: "completed", exitCode: 0 });
      const got = await follower.rest();
      assert.ok(
        got ===
          records(1, before / RECORD) + records(cut / RECORD + 1, written),
      );
      assert.deepEqual(follower.events, ["truncated"]);
    } finally {
      await follower.close();
      await writer.end();
    }
  });
});

Deno.test("followLog() reads a copy that grows after its rename, up to the truncate", async (t) => {
  // The rotation renames its copy over <id>.log.1, copies what came
  // meanwhile onto it, then truncates <id>.log.
  for (const where of ["reading the copy", "reading on in <id>.log"]) {
    await t.step(where, async () => {
      await withJob(async (store, id, log) => {
        await Deno.writeTextFile(log, "a\nb\n");
        await Deno.writeTextFile(`${log}.1`, "a\n");
        const follower = new Follower(store, id);
        try {
          // The copy, then (the truncate being due) on in <id>.log.
          await follower.pullTo(where === "reading the copy" ? 2 : 4);
          await Deno.writeTextFile(`${log}.1`, "b\n", { append: true });
          await Deno.truncate(log, 0);
          await Deno.writeTextFile(log, "c\n", { append: true });
          await follower.pullTo(6);
          await store.finish(id, { status: "completed", exitCode: 0 });
          assert.equal(await follower.rest(), "a\nb\nc\n");
          assert.deepEqual(follower.events, ["rotated"]);
        } finally {
          await follower.close();
        }
      });
    });
  }
});

Deno.test("followLog() sees a rotation that leaves <id>.log as long as it was", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "ab\n");
    const follower = new Follower(store, id);
    try {
      await follower.pullTo(3);
      await rotate(log);
      await Deno.writeTextFile(log, "cd\n", { append: true });
      await follower.pullTo(6);
      await store.finish(id, { status: "completed", exitCode: 0 });
      assert.equal(await follower.rest(), "ab\ncd\n");
      assert.deepEqual(follower.events, []);
    } finally {
      await follower.close();
    }
  });
});

Deno.test("followLog() that read past a rotation's copy says output may be lost", async () => {
  await withJob(async (store, id, log) => {
    // The follower read "1\n2\n"; the copy holds "1\n" only (2 was written
    // between the copy and the truncate), and 3 comes after.
    await Deno.writeTextFile(log, "1\n2\n");
    const follower = new Follower(store, id);
    try {
      await follower.pullTo(4);
      await Deno.writeTextFile(`${log}.1`, "1\n");
      await Deno.truncate(log, 0);
      await Deno.writeTextFile(log, "3\n", { append: true });
      await follower.pullTo(6);
      await store.finish(id, { status: "completed", exitCode: 0 });
      assert.equal(await follower.rest(), "1\n2\n3\n");
      assert.deepEqual(follower.events, ["dropped"]);
    } finally {
      await follower.close();
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

Deno.test("delete() and clean remove <id>.log.1 with the log; it is no record", async () => {
  await withJob(async (store, id, log) => {
    await Deno.writeTextFile(log, "new\n");
    await Deno.writeTextFile(`${log}.1`, "old\n");
    const { jobs, invalid } = await store.list();
    assert.deepEqual([jobs.map((j) => j.id), invalid], [[id], []]);
    const hourAgo = new Date(Date.now() - 3_600_000);
    await store.finish(id, { status: "completed", exitCode: 0 }, hourAgo);
    assert.deepEqual(await store.clean(60_000), [id]);
    await assert.rejects(Deno.stat(log), Deno.errors.NotFound);
    await assert.rejects(Deno.stat(`${log}.1`), Deno.errors.NotFound);
    // delete(id, { log: false }) keeps both.
    const kept = await store.create({ command: "true" });
    await Deno.writeTextFile(`${kept.logPath}.1`, "old\n");
    await store.delete(kept.id, { log: false });
    await Deno.stat(kept.logPath);
    await Deno.stat(`${kept.logPath}.1`);
  });
});

Deno.test("the PostgreSQL store keeps its tail across <id>.log.1 and removes it with the log", async () => {
  await using cluster = await startCluster();
  const logDir = await Deno.makeTempDir({ prefix: "detach_pglogs_" });
  try {
    await using store = await PostgresJobStore.open(cluster.url, { logDir });
    const hourAgo = new Date(Date.now() - 3_600_000);
    const make = async () => {
      const job = await store.create({ command: "x" });
      // A rotation just before the end: the newest lines are all in
      // <id>.log.1.
      await Deno.writeTextFile(`${job.logPath}.1`, "older\nnewest\n");
      await Deno.writeTextFile(job.logPath, "");
      return await store.finish(job.id, { status: "completed" }, hourAgo);
    };
    const deleted = await make();
    assert.equal(deleted.logTail, "older\nnewest\n");
    assert.equal((await store.load(deleted.id)).logTail, "older\nnewest\n");
    await store.delete(deleted.id);
    const cleaned = await make();
    assert.deepEqual(await store.clean(60_000), [cleaned.id]);
    for (const job of [deleted, cleaned]) {
      await assert.rejects(Deno.stat(job.logPath), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(`${job.logPath}.1`), Deno.errors.NotFound);
    }
  } finally {
    await removeSettled(logDir);
  }
});
