// Tests of `epack jobs`: the real CLI, run as a subprocess, against real
// jobs made by testdata/spawner.ts and, for edge cases, records written
// with JobStore.

import { FileJobStore } from "../../jobs.ts";
import {
  assert,
  assertCliError,
  assertEquals,
  craftEnded,
  jobs,
  type Spawned,
  spawnJob,
  stopJob,
  tempDir,
  until,
} from "../../testdata/cli_helpers.ts";

Deno.test("a job ID prefix (or suffix) of 4 or more characters selects a job", async (t) => {
  const dir = await tempDir();
  try {
    const store = new FileJobStore(dir);
    await craftEnded(store, { id: "abcd1111" });
    await craftEnded(store, { id: "abcd2222" });
    await craftEnded(store, { id: "zzzz9999" });

    await t.step("a unique prefix", async () => {
      const r = await jobs(dir, "abcd1");
      assertEquals(r.code, 0, r.stderr);
      assert(r.stdout.startsWith("Job abcd1111\n"), r.stdout);
      assert(
        (await jobs(dir, "show", "zzzz")).stdout.startsWith("Job zzzz9999\n"),
      );
      assertEquals((await jobs(dir, "wait", "zzzz")).code, 0);
    });
    await t.step(
      "the last characters, when no ID starts with them",
      async () => {
        const r = await jobs(dir, "show", "9999");
        assertEquals(r.code, 0, r.stderr);
        assert(r.stdout.startsWith("Job zzzz9999\n"), r.stdout);
      },
    );
    await t.step("an ambiguous prefix lists the candidates", async () => {
      assertCliError(
        await jobs(dir, "abcd"),
        undefined,
        /^error: Ambiguous job reference abcd: the prefix of 2 jobs \(abcd1111, abcd2222\); give more of the ID$/,
      );
    });
    await t.step("3 characters are too few, but a whole ID", async () => {
      const short =
        /^error: Job not found: zzz \(no job has that ID or name, and a prefix or suffix of an ID needs at least 4 characters\) in /;
      assertCliError(await jobs(dir, "zzz"), undefined, short);
      assertCliError(await jobs(dir, "logs", "zzz"), undefined, short);
      await craftEnded(store, { id: "z" });
      assertEquals((await jobs(dir, "wait", "z")).code, 0);
    });
    await t.step(
      "with --json, the error is also a JSON object on stdout",
      async () => {
        const r = await jobs(dir, "show", "qqqq", "--json");
        assertEquals(r.code, 1);
        const message = `Job not found: qqqq in ${dir}; ` +
          "to look in another store: --store DIR|URL, or $EPACK_DETACH_STORE";
        assertEquals(r.stderr, `error: ${message}\n`);
        assertEquals(JSON.parse(r.stdout), { error: message, exit_code: 1 });
      },
    );
    await t.step("no match", async () => {
      assertCliError(
        await jobs(dir, "wait", "qqqq"),
        undefined,
        /^error: Job not found: qqqq in \//,
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("jobs --help and each subcommand's --help print usage", async () => {
  const dir = await tempDir();
  try {
    for (
      const sub of [
        [],
        ["list"],
        ["show"],
        ["logs"],
        ["wait"],
        ["cancel"],
        [
          "clean",
        ],
        ["rm"],
        ["restart"],
      ]
    ) {
      for (const flag of ["--help", "-h"]) {
        const r = await jobs(dir, ...sub, flag);
        assertEquals([r.code, r.stderr], [0, ""], `${sub} ${flag}`);
        assert(r.stdout.includes("Usage:\n  epack jobs"), r.stdout);
        if (sub.length > 0) assert(r.stdout.includes(`epack jobs ${sub[0]}`));
      }
    }
    const wait = await jobs(dir, "wait", "--help");
    assert(
      wait.stdout.includes("124") && wait.stdout.includes("130"),
      wait.stdout,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("usage errors print one line and a hint and exit 1", async () => {
  const dir = await tempDir();
  try {
    const cases: [string[], string, RegExp][] = [
      [["--bogus"], "jobs", /^error: Unknown option: --bogus$/],
      [
        ["--status", "nope"],
        "jobs",
        /Invalid --status "nope": use one of waiting, queued, running,/,
      ],
      [["--status"], "jobs", /--status/],
      [["wait"], "jobs wait", /^error: Missing a job: give its ID or name$/],
      [
        ["stop", "abcd"],
        "jobs",
        /^error: Unknown subcommand "stop"; did you mean `jobs cancel`\?$/,
      ],
      [["ls"], "jobs", /did you mean `jobs list`\?$/],
      [["cancle", "abcd"], "jobs", /did you mean `jobs cancel`\?$/],
      [["abcd", "efgh"], "jobs", /"abcd" \(jobs <id> shows one job\)$/],
      [["logs", "abcd", "--folow"], "jobs logs", /did you mean --follow\?$/],
      [
        ["wait", "abcd", "--timeout", "soon"],
        "jobs wait",
        /^error: --timeout: Invalid duration: "soon"/,
      ],
      [["cancel", "abcd", "--grace", "-1s"], "jobs cancel", /--grace/],
      [
        ["clean", "--older-than", "1y"],
        "jobs clean",
        /^error: --older-than: Invalid duration: "1y"/,
      ],
      [
        ["--clean", "--older-than", "x"],
        "jobs",
        /^error: --older-than: Invalid duration: "x"/,
      ],
      [["logs", "abcd", "-n", "x"], "jobs logs", /Invalid -n value "x"/],
      [["logs", "abcd", "-n", "-3"], "jobs logs", /-n/],
      [["logs", "abcd", "--follow=yes"], "jobs logs", /follow/],
      [["show", "a", "b"], "jobs show", /Unexpected argument "b"/],
      [["abcd", "--all"], "jobs", /cannot be used with a job ID/],
      [["--clean", "--all"], "jobs", /--clean cannot be combined/],
      [["--older-than", "1h"], "jobs", /--older-than goes with --clean/],
      [
        ["logs", "abcd", "--timeout", "1s"],
        "jobs logs",
        /^error: Unknown option: --timeout$/,
      ],
    ];
    for (const [args, hint, match] of cases) {
      assertCliError(await jobs(dir, ...args), hint, match);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hostile job IDs are rejected before anything is touched", async () => {
  const dir = await tempDir();
  try {
    for (
      const id of [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "a b c d",
        "1.json",
      ]
    ) {
      for (const sub of [[], ["logs"], ["wait"], ["cancel"], ["rm"]]) {
        assertCliError(
          await jobs(dir, ...sub, id),
          ["jobs", ...sub].join(" "),
          /^error: Invalid job ID .*: neither an ID \(letters, digits and underscores\) nor a name/,
        );
      }
    }
    // A name may hold a dot: it is looked up as a name, and not found.
    assertCliError(
      await jobs(dir, "rm", "abcd.json"),
      undefined,
      /^error: Job not found: abcd.json in /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a job ID in lowercase works in every jobs subcommand", async (t) => {
  const dir = await tempDir();
  let job: Spawned | undefined;
  try {
    job = await spawnJob(dir, "sh", ["-c", "echo hello; exec sleep 30"]);
    await until(dir, job.jobId, (j) => j.workerPid !== undefined);
    const lower = job.jobId.toLowerCase();
    assert(lower !== job.jobId);
    for (const id of [lower, lower.slice(0, 12), lower.slice(-6)]) {
      await t.step(`${id}: jobs, show, logs, wait --timeout 0`, async () => {
        for (const args of [[id], ["show", id], [id, "--json"]]) {
          const r = await jobs(dir, ...args);
          assertEquals(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
          assert(r.stdout.includes(job!.jobId), r.stdout);
        }
        const logs = await jobs(dir, "logs", id);
        assertEquals([logs.code, logs.stdout], [0, "hello\n"], logs.stderr);
        const wait = await jobs(dir, "wait", id, "--timeout", "0");
        assertEquals(wait.code, 75, wait.stderr);
        assert(wait.stderr.includes(job!.jobId), wait.stderr);
      });
    }
    await t.step("cancel", async () => {
      const r = await jobs(dir, "cancel", lower, "--grace", "1s");
      assertEquals(r.code, 0, r.stderr);
      assertEquals(
        (await new FileJobStore(dir).load(job!.jobId)).status,
        "cancelled",
      );
    });
  } finally {
    if (job) await stopJob(dir, job.jobId);
    await Deno.remove(dir, { recursive: true });
  }
});
