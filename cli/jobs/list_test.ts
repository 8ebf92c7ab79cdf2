// Tests of `epack jobs`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import {
  assert,
  assertCliError,
  assertEquals,
  craftEnded,
  ended,
  ENTRY,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("jobs lists running jobs by default, all with --all, one status with --status", async (t) => {
  const dir = await tempDir();
  let running: Spawned | undefined;
  try {
    running = await spawnJob(dir, "sleep", ["30"], { grace: 200 });
    const failed = await spawnJob(dir, "sh", ["-c", "echo hi; exit 3"]);
    await until(dir, failed.jobId, ended);

    await t.step("default: running jobs only, as a table", async () => {
      const r = await jobs(dir);
      assertEquals(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n");
      assert(
        /^ID\s+STATUS\s+STARTED\s+DURATION\s+COMMAND$/.test(lines[0]),
        lines[0],
      );
      assertEquals(lines.length, 2, r.stdout);
      assert(lines[1].startsWith(running!.jobId), lines[1]);
      assert(
        /running\s+(just now|\d+s ago)\s+\S+\s+sleep 30$/.test(lines[1]),
        lines[1],
      );
      assert(!r.stdout.includes(failed.jobId));
      assert(!r.stdout.includes("\x1b["), "no colour in a pipe");
    });

    await t.step("--all: every job, newest first", async () => {
      const r = await jobs(dir, "--all");
      assertEquals(r.code, 0, r.stderr);
      const lines = r.stdout.trimEnd().split("\n").slice(1);
      assertEquals(lines.map((l) => l.split(/\s+/)[0]), [
        failed.jobId,
        running!.jobId,
      ]);
      assert(
        /failed \(3\)\s.*\ssh -c 'echo hi; exit 3'$/.test(lines[0]),
        lines[0],
      );
    });

    await t.step("--status failed", async () => {
      const r = await jobs(dir, "--status", "failed");
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.includes(failed.jobId));
      assert(!r.stdout.includes(running!.jobId));
      const none = await jobs(dir, "--status", "cancelled");
      assertEquals(
        none.stdout,
        `No cancelled jobs in ${dir}.\nTo look in another store: ` +
          "--store DIR|URL, or $EPACK_DETACH_STORE.\n",
      );
    });

    await t.step("--json: the on-disk keys plus duration_ms", async () => {
      const r = await jobs(dir, "--all", "--json");
      assertEquals(r.code, 0, r.stderr);
      const doc = JSON.parse(r.stdout);
      assertEquals(doc.invalid, []);
      assertEquals(doc.jobs.length, 2);
      const f = doc.jobs[0];
      assertEquals(
        [f.id, f.command, f.args, f.status, f.exit_code],
        [failed.jobId, "sh", ["-c", "echo hi; exit 3"], "failed", 3],
      );
      assertEquals(f.log_path, failed.logPath);
      assert(typeof f.started_at === "string" && f.completed_at);
      assert(typeof f.duration_ms === "number" && f.duration_ms >= 0);
      assertEquals(doc.jobs[1].status, "running");
    });
  } finally {
    if (running) await stopJob(dir, running.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs warns about invalid job files and still lists the valid jobs", async () => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    const good = await craftEnded(store);
    await Deno.writeTextFile(`${dir}/BROKEN1.json`, "{not json");
    await Deno.writeTextFile(`${dir}/bad name.json`, "{}");

    const r = await jobs(dir, "--all");
    assertEquals(r.code, 0, r.stderr);
    assert(r.stdout.includes(good.id), r.stdout);
    const warnings = r.stderr.trimEnd().split("\n");
    assertEquals(warnings.length, 2, r.stderr);
    assert(
      warnings[0].startsWith(
        "warning: skipping invalid job file BROKEN1: not valid JSON",
      ),
      warnings[0],
    );
    assert(
      warnings[1].startsWith(
        "warning: skipping invalid job file bad name.json:",
      ),
      warnings[1],
    );

    const j = await jobs(dir, "--all", "--json");
    assertEquals(j.stderr, "");
    const doc = JSON.parse(j.stdout);
    assertEquals(doc.jobs.map((x: { id: string }) => x.id), [good.id]);
    assertEquals(doc.invalid.map((x: { id: string }) => x.id), [
      "BROKEN1",
      "bad name.json",
    ]);
    assert(
      doc.invalid[0].reason && doc.invalid[0].path.endsWith("BROKEN1.json"),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs with no jobs directory says there are none", async () => {
  const dir = await tempDir();
  try {
    const missing = `${dir}/nothing/here`;
    const r = await jobs(missing);
    assertEquals([r.code, r.stdout], [
      0,
      `No running jobs in ${missing}.\nUse --all to show jobs that have ` +
      "ended; to look in another store: --store DIR|URL, or " +
      "$EPACK_DETACH_STORE.\n",
    ]);
    assert(
      (await jobs(missing, "--all")).stdout.startsWith(
        `No jobs in ${missing}.\n`,
      ),
    );
    assertEquals(JSON.parse((await jobs(missing, "--json")).stdout), {
      jobs: [],
      invalid: [],
    });
    assertCliError(
      await jobs(missing, "show", "abcd"),
      undefined,
      /Job not found: abcd/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const HAS_SCRIPT = (() => {
  try {
    return Deno.statSync("/usr/bin/script").isFile;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "statuses are coloured on a terminal unless NO_COLOR is set",
  // script(1) gives the command a pseudo-terminal as stdout.
  ignore: !HAS_SCRIPT,
  async fn() {
    const dir = await tempDir();
    try {
      await craftEnded(new FileJobStore(dir), { exitCode: 3 });
      const quote = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
      const line = [Deno.execPath(), ...ENTRY, "--all", "--jobs-dir", dir]
        .map(quote).join(" ");
      const onTty = async (env: Record<string, string>) => {
        const out = await new Deno.Command("/usr/bin/script", {
          args: ["-qc", line, "/dev/null"],
          env,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        return new TextDecoder().decode(out.stdout);
      };
      const colored = await onTty({ NO_COLOR: "" });
      assert(colored.includes("\x1b[31mfailed (3)\x1b[0m"), colored);
      const plain = await onTty({ NO_COLOR: "1" });
      assert(plain.includes("failed") && !plain.includes("\x1b["), plain);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
