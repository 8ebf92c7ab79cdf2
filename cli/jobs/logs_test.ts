// Tests of `epack jobs logs`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import {
  assert,
  assertEquals,
  ended,
  ENTRY,
  jobs,
  spawnJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs logs prints the log, its last N lines, or JSON lines", async (t) => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "printf 'a\\nb\\n\\nc\\nno newline'",
    ]);
    await until(dir, job.jobId, ended);

    await t.step("all of it, byte for byte", async () => {
      const r = await jobs(dir, "logs", job.jobId);
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, "a\nb\n\nc\nno newline");
    });
    await t.step("-n N", async () => {
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n", "2")).stdout,
        "c\nno newline",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n3")).stdout,
        "\nc\nno newline",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "--lines", "0")).stdout,
        "",
      );
      assertEquals(
        (await jobs(dir, "logs", job.jobId, "-n", "99")).stdout,
        "a\nb\n\nc\nno newline",
      );
    });
    await t.step("--json: one object per line", async () => {
      const r = await jobs(dir, "logs", job.jobId, "--json", "-n", "3");
      assertEquals(
        r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).line),
        ["", "c", "no newline"],
      );
    });
    await t.step("a large log streams through unchanged", async () => {
      const big = new Uint8Array(3 * 1024 * 1024 + 17).map((_, i) =>
        i % 61 === 60 ? 10 : 97 + (i % 26)
      );
      await Deno.writeFile(job.logPath, big);
      const out = await new Deno.Command(Deno.execPath(), {
        args: [...ENTRY, "logs", job.jobId, "--jobs-dir", dir],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assertEquals(out.code, 0);
      assertEquals(out.stdout.length, big.length);
      assert(out.stdout.every((b, i) => b === big[i]), "bytes differ");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs -f follows the log and stops after the job's last bytes", async () => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "echo one; sleep 0.4; echo two; sleep 0.4; printf three; exit 2",
    ]);
    const started = performance.now();
    const r = await jobs(dir, "logs", "-f", job.jobId);
    const ms = performance.now() - started;
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, "one\ntwo\nthree");
    const done = await new FileJobStore(dir).load(job.jobId);
    assertEquals(done.status, "failed");
    assert(ms < 60_000, `took ${ms} ms`);

    // An ended job: -f prints what there is and returns.
    const again = await jobs(dir, "logs", "-f", "-n", "1", job.jobId);
    assertEquals(again.stdout, "three");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs -f says when the log is truncated and goes on from its start", async () => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    // A record as a just-spawned job has one: running, its log written by
    // the test instead of a worker.
    const job = await store.create({ command: "sh", args: ["-c", "true"] });
    await Deno.writeTextFile(job.logPath, "one\ntwo\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [...ENTRY, "logs", "-f", job.id, "--jobs-dir", dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = child.stdout.getReader();
    let seen = "";
    while (seen !== "one\ntwo\n") {
      const { value, done } = await reader.read();
      assert(!done, `ended early: ${seen}`);
      seen += new TextDecoder().decode(value);
    }
    await Deno.writeTextFile(job.logPath, "3\n");
    while (seen !== "one\ntwo\n3\n") {
      const { value, done } = await reader.read();
      assert(!done, `ended early: ${seen}`);
      seen += new TextDecoder().decode(value);
    }
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    const stderr = new TextDecoder().decode(
      await new Response(child.stderr).arrayBuffer(),
    );
    const { code } = await child.status;
    assertEquals([code, seen], [0, "one\ntwo\n3\n"]);
    assertEquals(stderr, `warning: ${job.logPath}: log truncated\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs of a rotated log prints <id>.log.1 then <id>.log, and says so once on stderr", async (t) => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    const job = await store.create({
      command: "sh",
      args: ["-c", "true"],
      logMax: 64 * 1024,
    });
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    await Deno.writeTextFile(`${job.logPath}.1`, "1\n2\n3\n");
    await Deno.writeTextFile(job.logPath, "4\n5\n");
    const note =
      `note: ${job.logPath}: the log was rotated to stay under 64 KiB; earlier output may have been dropped\n`;

    await t.step("all of it, the note apart from the bytes", async () => {
      const r = await jobs(dir, "logs", job.id);
      assertEquals([r.code, r.stdout, r.stderr], [0, "1\n2\n3\n4\n5\n", note]);
    });
    await t.step("-f of an ended job: the same, once", async () => {
      const r = await jobs(dir, "logs", "-f", job.id);
      assertEquals([r.code, r.stdout, r.stderr], [0, "1\n2\n3\n4\n5\n", note]);
    });
    await t.step("-n N across both files: no note", async () => {
      const r = await jobs(dir, "logs", job.id, "-n", "3");
      assertEquals([r.stdout, r.stderr], ["3\n4\n5\n", ""]);
    });
    await t.step("--json: one object per line, across both", async () => {
      const r = await jobs(dir, "logs", job.id, "--json");
      assertEquals(
        r.stdout.trimEnd().split("\n").map((l) => JSON.parse(l).line),
        ["1", "2", "3", "4", "5"],
      );
      assertEquals(r.stderr, note);
    });
    await t.step(
      "an <id>.log.1 that is a symbolic link is not read",
      async () => {
        const secret = `${dir}.secret`;
        await Deno.writeTextFile(secret, "secret\n");
        try {
          await Deno.remove(`${job.logPath}.1`);
          await Deno.symlink(secret, `${job.logPath}.1`);
          await Deno.writeTextFile(job.logPath, "kept\n");
          const r = await jobs(dir, "logs", job.id);
          assertEquals([r.code, r.stdout], [0, "kept\n"]);
          assertEquals(
            r.stderr,
            `warning: ${job.logPath}.1: not a regular file; not read\n`,
          );
        } finally {
          await Deno.remove(secret);
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs logs -f follows a rotation: each byte once, nothing on stderr", async () => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    const job = await store.create({ command: "sh", args: ["-c", "true"] });
    await Deno.writeTextFile(job.logPath, "one\ntwo\n");
    const child = new Deno.Command(Deno.execPath(), {
      args: [...ENTRY, "logs", "-f", job.id, "--jobs-dir", dir],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = child.stdout.getReader();
    let seen = "";
    const readUntil = async (want: string) => {
      while (seen !== want) {
        const { value, done } = await reader.read();
        assert(!done, `ended early: ${seen}`);
        seen += new TextDecoder().decode(value);
      }
    };
    await readUntil("one\ntwo\n");
    // A rotation as the log cap makes one, then more output.
    await Deno.writeTextFile(`${dir}/.rotate.tmp`, "one\ntwo\nthree\n");
    await Deno.writeTextFile(job.logPath, "three\n", { append: true });
    await Deno.rename(`${dir}/.rotate.tmp`, `${job.logPath}.1`);
    await Deno.truncate(job.logPath, 0);
    await Deno.writeTextFile(job.logPath, "four\n", { append: true });
    await readUntil("one\ntwo\nthree\nfour\n");
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    const stderr = new TextDecoder().decode(
      await new Response(child.stderr).arrayBuffer(),
    );
    const { code } = await child.status;
    assertEquals([code, seen, stderr], [0, "one\ntwo\nthree\nfour\n", ""]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
