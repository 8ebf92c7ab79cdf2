// Tests of `epack jobs show`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { JobStore } from "../../jobs.ts";
import { readLogTail } from "../../logs.ts";
import {
  assert,
  assertEquals,
  craftEnded,
  ended,
  jobs,
  spawnJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs <id> shows every field and the last 10 lines of the log", async () => {
  const dir = await tempDir();
  try {
    const job = await spawnJob(dir, "sh", [
      "-c",
      "i=1; while [ $i -le 15 ]; do echo line $i; i=$((i+1)); done; exit 3",
    ]);
    const done = await until(dir, job.jobId, ended);
    const r = await jobs(dir, job.jobId.slice(0, 20));
    assertEquals(r.code, 0, r.stderr);
    const out = r.stdout;
    for (
      const want of [
        `Job ${job.jobId}\n`,
        "Status:      failed (exit code 3)",
        `Command:     sh -c 'i=1; while`,
        `PID:         ${job.pid} (supervisor)`,
        `Worker PID:  ${done.workerPid}`,
        "Exit code:   3",
        "Error:       Exited with code 3",
        "Timeout:     1d",
        `Log:         ${job.logPath}`,
        `Working dir: ${done.workingDir}`,
        "Last 10 lines of the log:\n  line 6\n",
        "  line 15\n",
      ]
    ) {
      assert(out.includes(want), `missing ${JSON.stringify(want)} in\n${out}`);
    }
    assert(
      /Started: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \((just now|\d+ seconds? ago)\)/
        .test(out),
      out,
    );
    assert(/Completed: +\d{4}-.*ago|just now/.test(out), out);
    assert(/Duration: +\d+(ms|\.\ds)\n/.test(out), out);
    assert(!out.includes("line 5\n"), out);

    const same = await jobs(dir, "show", job.jobId);
    const strip = (text: string) => text.replace(/\(.*ago\)|\(just now\)/g, "");
    assertEquals(strip(same.stdout), strip(out));

    const j = await jobs(dir, job.jobId, "--json");
    const doc = JSON.parse(j.stdout);
    assertEquals([doc.id, doc.status, doc.exit_code], [job.jobId, "failed", 3]);
    assertEquals(doc.log_tail.length, 10);
    assertEquals(doc.log_tail[9], "line 15");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs <id> reads only the end of a large log", async (t) => {
  const dir = await tempDir();
  try {
    const store = new JobStore(dir);
    const job = await craftEnded(store);
    const size = 50 * 1024 * 1024;
    const tail = Array.from({ length: 20 }, (_, i) => `tail ${i + 1}\n`).join(
      "",
    );
    {
      // 50 MB of (sparse) zeros, then twenty lines.
      using f = await Deno.open(job.logPath, { write: true, truncate: true });
      await f.truncate(size);
      await f.seek(size, Deno.SeekMode.Start);
      await f.write(new TextEncoder().encode(tail));
    }

    await t.step("readLogTail reads a bounded number of bytes", async () => {
      const got = await readLogTail(job.logPath, { lines: 10 });
      assertEquals(
        got.lines,
        Array.from({ length: 10 }, (_, i) => `tail ${i + 11}`),
      );
      assertEquals(got.truncated, false);
      assert(got.bytesRead <= 2 * 64 * 1024, `read ${got.bytesRead} bytes`);
    });

    await t.step(
      "a log without newlines is cut at the byte bound",
      async () => {
        const blank = `${dir}/blank.log`;
        {
          using f = await Deno.open(blank, { write: true, create: true });
          await f.truncate(size);
        }
        const got = await readLogTail(blank, {
          lines: 10,
          maxBytes: 64 * 1024,
        });
        assertEquals(got.truncated, true);
        assertEquals(got.lines.length, 1);
        assert(got.bytesRead <= 2 * 64 * 1024, `read ${got.bytesRead} bytes`);
      },
    );

    await t.step("the CLI shows the tail, fast", async () => {
      const started = performance.now();
      const r = await jobs(dir, job.id);
      const ms = performance.now() - started;
      assertEquals(r.code, 0, r.stderr);
      assert(
        r.stdout.includes("  tail 11\n") && r.stdout.endsWith("  tail 20\n"),
        r.stdout,
      );
      assert(!r.stdout.includes("tail 10\n"));
      // Generous: a deno start costs ~0.1 s; reading 50 MB would not fail
      // this alone, the byte count above is the real check.
      assert(ms < 5_000, `took ${ms} ms`);
      const n = await jobs(dir, "logs", job.id, "-n", "3");
      assertEquals(n.stdout, "tail 18\ntail 19\ntail 20\n");
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
