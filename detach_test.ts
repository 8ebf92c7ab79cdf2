// End-to-end tests of spawn() and the supervisor, with real processes: the
// spawner is a real `deno run` that exits, the job is a real process tree,
// and it is stopped with real signals. cancel() and the watch are tested in
// control_test.ts, the stop policy in timeout_test.ts.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  cancel,
  DetachRecursionError,
  spawn,
  SpawnError,
  superviseIfRequested,
} from "./mod.ts";
import { setRuntimeForTesting as _setRuntimeForTesting } from "./spawn/plan.ts";
import { FileJobStore, SUPERVISOR_START_GRACE_MS } from "./jobs.ts";
import { MAX_DURATION } from "./duration.ts";
import { readProcess } from "./process/inspect.ts";
import { withTempDir } from "./testdata/cli_helpers.ts";
import { CAN_MOUNT, namesIn, withFullDisk } from "./testdata/full_disk.ts";
import {
  DENO,
  finalJob,
  mustSpawn,
  type Spawned,
  SPAWNER,
  spawnJob,
  until,
} from "./testdata/spawn_helpers.ts";

/** Runs a spawn() that must fail with a SpawnError, and returns the error. */
async function spawnFailure(
  fn: () => Promise<unknown>,
): Promise<SpawnError> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof SpawnError) return err;
    throw err;
  }
  throw new assert.AssertionError({ message: "spawn() did not fail" });
}

Deno.test("spawn() records how a job ends after the spawner has exited", async (t) => {
  await withTempDir(async (dir) => {
    await t.step("exit 0 is completed", async () => {
      const r = await spawnJob({
        subcommand: "echo",
        args: ["hi"],
        store: dir,
      });
      assert.equal(r.code, 0, r.stderr);
      const job = await finalJob(dir, r.result!.jobId);
      assert.equal(job.status, "completed");
      assert.equal(job.exitCode, 0);
      assert.equal(job.signal, undefined);
      assert.ok(job.completedAt! >= job.startedAt);
      assert.equal(await Deno.readTextFile(job.logPath), "hi\n");
    });
    await t.step("the worker knows its job's ID", async () => {
      const { jobId } = await mustSpawn({
        command: "sh",
        args: ["-c", "echo $EPACK_DETACH_JOB_ID"],
        store: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(await Deno.readTextFile(job.logPath), `${jobId}\n`);
    });
    await t.step("exit 3 is failed with exit code 3", async () => {
      const { jobId } = await mustSpawn({
        subcommand: "exit",
        args: ["3"],
        store: dir,
      });
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "failed");
      assert.equal(job.exitCode, 3);
      assert.match(job.error ?? "", /code 3/);
    });
    await t.step(
      "a worker killed by a signal is failed with the signal",
      async () => {
        const { jobId } = await mustSpawn({
          command: "sh",
          args: ["-c", "kill -USR1 $$"],
          store: dir,
        });
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "failed");
        assert.equal(job.signal, "SIGUSR1");
        assert.equal(job.exitCode, undefined);
      },
    );
    await t.step("the spawner does not wait for the job", async () => {
      const r = await spawnJob({
        command: "sleep",
        args: ["120"],
        store: dir,
        grace: 200,
      });
      assert.equal(r.code, 0, r.stderr);
      // The spawner is a whole `deno run`; a generous bound for a loaded
      // machine, far below the job's 120 s.
      assert.ok(r.ms < 60_000, `spawner took ${r.ms} ms`);
      const store = new FileJobStore(dir);
      assert.equal((await store.load(r.result!.jobId)).status, "running");
      await cancel(r.result!.jobId, { store: dir, grace: 200 });
    });
  });
});

Deno.test("a job runs detached: own session, stdin closed, survives its spawner's group", async () => {
  await withTempDir(async (dir) => {
    const { jobId, pid } = await mustSpawn({
      command: "sleep",
      args: ["30"],
      store: dir,
      grace: 200,
    });
    const store = new FileJobStore(dir);
    try {
      const job = await until("the worker to start", async () => {
        const j = await store.load(jobId);
        return j.workerPid !== undefined ? j : undefined;
      });
      const supervisor = readProcess(pid)!;
      assert.equal(supervisor.sid, pid, "the supervisor leads its session");
      const worker = readProcess(job.workerPid!)!;
      assert.equal(worker.pgid, job.workerPid, "the worker leads its group");
      assert.notEqual(supervisor.sid, readProcess(Deno.pid)!.sid);
      assert.equal(
        await Deno.realPath(`/proc/${job.workerPid}/fd/0`),
        "/dev/null",
      );
      // A hangup or Ctrl-C sent to the test's own process group cannot
      // reach it; check that the group is not ours.
      assert.notEqual(worker.pgid, readProcess(Deno.pid)!.pgid);
      assert.equal((await store.load(jobId)).status, "running");
    } finally {
      await cancel(jobId, { store: dir, grace: 200 });
    }
  });
});

Deno.test("concurrent readers of a lost job all see it lost", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    const job = await store.create({ command: "x" });
    await store.update(job.id, (j) => ({ ...j, supervisedAt: new Date() }));
    // Each probe tries the liveness lock; probes must not mistake each other
    // for a live supervisor.
    const seen = await Promise.all(
      Array.from({ length: 40 }, () => store.load(job.id)),
    );
    assert.deepEqual(new Set(seen.map((j) => j.status)), new Set(["lost"]));
  });
});

Deno.test("a supervisor that takes its lock after the start grace records the job lost and does not run it", async () => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    const marker = join(dir, "ran");
    const job = await store.create({
      command: "sh",
      argv: ["sh", "-c", `touch ${marker}`],
    });
    // Not yet late when the supervisor starts, but late by the time it gets
    // the lock: a reader holding the lock (as a probe does, briefly) keeps
    // it waiting past the grace period.
    await store.update(job.id, (j) => ({
      ...j,
      startedAt: new Date(Date.now() - SUPERVISOR_START_GRACE_MS + 1500),
    }));
    const probe = await Deno.open(store.livenessPath(job.id));
    await probe.lock(false);
    const supervisor = new Deno.Command(DENO, {
      args: ["run", "-A", SPAWNER, "__epack_detach_supervise__", dir, job.id],
    }).output();
    // Held until the grace period is over: a reader then sees it lost.
    await until(
      "the start grace to pass",
      async () => (await store.load(job.id)).status === "lost",
      10_000,
    );
    await probe.unlock();
    probe.close();
    assert.equal((await supervisor).code, 0);
    const recorded = await store.loadRecorded(job.id);
    assert.equal(recorded.status, "lost");
    assert.match(recorded.error ?? "", /started more than 30s late/);
    assert.equal(await Deno.stat(marker).catch(() => undefined), undefined);
  });
});

Deno.test("spawn() refuses a command line that would detach again", async (t) => {
  await withTempDir(async (dir) => {
    for (
      const flags of [["--detach"], ["-d"], ["--detach=true"], ["-fd"]]
    ) {
      await t.step(flags.join(" "), async () => {
        const r = await spawnJob({ subcommand: "pull", flags, store: dir });
        assert.equal(r.code, 1);
        assert.match(
          r.stderr,
          /DetachRecursionError: A detached job cannot detach again/,
        );
      });
    }
    await t.step("nothing was recorded", () => {
      assert.deepEqual([...Deno.readDirSync(dir)], []);
    });
    await t.step(
      "in-process: DetachRecursionError before anything runs",
      async () => {
        await superviseIfRequested();
        await assert.rejects(
          () => spawn({ subcommand: "pull", args: ["-d"], store: dir }),
          DetachRecursionError,
        );
      },
    );
  });
});

Deno.test("spawn() failures leave no running record and no process", async (t) => {
  await superviseIfRequested();
  await withTempDir(async (dir) => {
    await t.step("an unwritable jobs directory", async () => {
      let jobsDir: string;
      if (Deno.uid() === 0) {
        // root ignores directory modes (a job would really start there), so
        // the jobs directory goes under a regular file instead.
        await Deno.writeTextFile(join(dir, "file"), "");
        jobsDir = join(dir, "file", "jobs");
      } else {
        await Deno.mkdir(join(dir, "locked"), { mode: 0o500 });
        jobsDir = join(dir, "locked", "jobs");
      }
      const r = await spawnJob({ subcommand: "echo", store: jobsDir });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        /SpawnError: Cannot record the job in .*(file|locked)\/jobs/,
      );
    });
    await t.step("a missing executable", async () => {
      const before = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      const err = await spawnFailure(() =>
        spawn({
          command: "no-such-program-xyz",
          store: join(dir, "jobs"),
        })
      );
      assert.equal(err.message, "Command not found: no-such-program-xyz");
      assert.equal(err.exitCode, 127);
      const after = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assert.deepEqual(after, before, "nothing was written");
    });
    await t.step("a supervisor that cannot be started", async () => {
      _setRuntimeForTesting({
        standalone: true,
        execPath: join(dir, "no-such-binary"),
        mainModule: "file:///nowhere.ts",
        permissionFlags: [],
      });
      try {
        const jobs = join(dir, "jobs");
        await assert.rejects(
          () => spawn({ subcommand: "echo", store: jobs }),
          SpawnError,
          "Cannot start the supervisor",
        );
        // The job is taken back: a spawn that throws leaves no job (it
        // used to leave a failed record of a job no caller ever heard of).
        assert.deepEqual(namesIn(jobs), []);
      } finally {
        _setRuntimeForTesting(undefined);
      }
    });
  });
});

Deno.test("a large log is byte-exact, stdout and stderr together", async () => {
  await withTempDir(async (dir) => {
    const mib = 64;
    const { jobId } = await mustSpawn({
      command: "sh",
      args: [
        "-c",
        `head -c ${
          mib * 1024 * 1024
        } /dev/zero; printf 'to stderr\\n' >&2; printf end`,
      ],
      store: dir,
    });
    const job = await finalJob(dir, jobId);
    assert.equal(job.status, "completed");
    const size = (await Deno.stat(job.logPath)).size;
    assert.equal(size, mib * 1024 * 1024 + "to stderr\n".length + 3);
    const file = await Deno.open(job.logPath);
    try {
      await file.seek(-13, Deno.SeekMode.End);
      const tail = new Uint8Array(13);
      await file.read(tail);
      assert.equal(new TextDecoder().decode(tail), "to stderr\nend");
    } finally {
      file.close();
    }
    assert.equal((await Deno.stat(job.logPath)).mode! & 0o777, 0o600);
  });
});

Deno.test({
  name: "a deno compile binary is started with its own arguments",
  // The last step calls spawn() in this process: by design it starts the
  // supervisor, unrefs it and never waits for it, which Deno 2.7's resource
  // and op sanitizers count as a leak (2.8 and later do not).
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await t.step("end to end with a stand-in binary", async () => {
    await superviseIfRequested();
    await withTempDir(async (dir) => {
      // A stand-in for a compiled binary: like one, it takes the program's
      // arguments directly (deno compile cannot run on our machines).
      const binary = join(dir, "epack-bin");
      await Deno.writeTextFile(
        binary,
        `#!/bin/sh\nexec ${JSON.stringify(DENO)} run -A ${
          JSON.stringify(SPAWNER)
        } "$@"\n`,
      );
      await Deno.chmod(binary, 0o755);
      _setRuntimeForTesting({
        standalone: true,
        execPath: binary,
        mainModule: "file:///ignored.ts",
        permissionFlags: [],
      });
      let jobId: string;
      let supervisor: number;
      try {
        const r = await spawn({
          subcommand: "echo",
          args: ["from", "the binary"],
          store: dir,
        });
        jobId = r.jobId;
        supervisor = r.pid;
        assert.deepEqual(r.job.argv, [binary, "echo", "from", "the binary"]);
      } finally {
        _setRuntimeForTesting(undefined);
      }
      const job = await finalJob(dir, jobId);
      assert.equal(job.status, "completed", job.error);
      assert.equal(await Deno.readTextFile(job.logPath), "from the binary\n");
      // The supervisor is this process's child: wait until Deno has reaped
      // it, so its end is not seen by the sanitizers of the next test.
      await until(
        "the supervisor to be reaped",
        () => readProcess(supervisor) === undefined ? true : undefined,
      );
    });
  });
});

Deno.test("the job gets the spawner's permissions and never more", async (t) => {
  await withTempDir(async (dir) => {
    await t.step(
      "unscoped grants are passed on one by one, without -A",
      async () => {
        const { jobId, argv } = await mustSpawn(
          { subcommand: "perms", store: dir },
          ["--allow-read", "--allow-write", "--allow-run", "--allow-env"],
        );
        assert.ok(!argv.includes("-A") && !argv.includes("--allow-all"));
        assert.deepEqual(argv.filter((a) => a.startsWith("--allow")), [
          "--allow-read",
          "--allow-write",
          "--allow-env",
          "--allow-run",
        ]);
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "completed", job.error);
        assert.equal(
          await Deno.readTextFile(job.logPath),
          "read\nwrite\nenv\nrun\n",
        );
      },
    );
    await t.step("a scoped grant is not widened", async () => {
      const { jobId, argv } = await mustSpawn(
        { subcommand: "perms", store: dir },
        [
          "--allow-read",
          "--allow-write",
          "--allow-run",
          "--allow-env",
          "--allow-net=127.0.0.1",
        ],
      );
      assert.ok(!argv.some((a) => a.startsWith("--allow-net")));
      const job = await finalJob(dir, jobId);
      assert.doesNotMatch(await Deno.readTextFile(job.logPath), /net/);
    });
    await t.step(
      "permissionFlags states scoped grants explicitly",
      async () => {
        const { jobId, argv } = await mustSpawn(
          {
            subcommand: "echo",
            store: dir,
            permissionFlags: ["--allow-read", "--allow-write", "--allow-run"],
          },
          ["-A"],
        );
        assert.deepEqual(argv.filter((a) => a.startsWith("--allow")), [
          "--allow-read",
          "--allow-write",
          "--allow-run",
        ]);
        // The supervisor's last write must not race the temp dir's removal.
        await finalJob(dir, jobId);
      },
    );
  });
});

Deno.test("spawn() runs exactly one of a subcommand and a program", async (t) => {
  await superviseIfRequested();
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    for (
      const options of [
        { store: jobsDir },
        { subcommand: "echo", command: "echo", store: jobsDir },
        { subcommand: "", store: jobsDir },
        { command: "", store: jobsDir },
      ]
    ) {
      await t.step(JSON.stringify(options), async () => {
        await assert.rejects(() => spawn(options), TypeError);
      });
    }
    await t.step("nothing was recorded", async () => {
      assert.equal(await Deno.stat(jobsDir).catch(() => undefined), undefined);
    });
  });
});

Deno.test("spawn() refuses a program that cannot be executed, as a shell's 126, recording nothing", async (t) => {
  await superviseIfRequested();
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    await t.step("a directory: 126, as in the foreground", async () => {
      const err = await spawnFailure(() =>
        spawn({ command: dir, store: jobsDir })
      );
      assert.equal(err.message, `Cannot execute ${dir}: is a directory`);
      assert.equal(err.exitCode, 126);
    });
    await t.step("a script whose #! interpreter is missing", async () => {
      const script = join(dir, "bad.sh");
      await Deno.writeTextFile(script, "#!/nonexistent/sh\necho hi\n");
      await Deno.chmod(script, 0o755);
      const err = await spawnFailure(() =>
        spawn({ command: script, store: jobsDir })
      );
      assert.equal(
        err.message,
        `Cannot execute ${script}: bad interpreter /nonexistent/sh`,
      );
      assert.equal(err.exitCode, 126);
      await assert.rejects(
        () => spawn({ command: "bad.sh", store: jobsDir, env: { PATH: dir } }),
        SpawnError,
        "Cannot execute bad.sh: bad interpreter /nonexistent/sh",
      );
    });
    await t.step("a file without execute permission", async () => {
      const file = join(dir, "script.sh");
      await Deno.writeTextFile(file, "echo hi\n", { mode: 0o644 });
      await Deno.chmod(file, 0o644);
      const err = await spawnFailure(() =>
        spawn({ command: file, store: jobsDir })
      );
      assert.equal(err.message, `Cannot execute ${file}: permission denied`);
      assert.equal(err.exitCode, 126);
      await assert.rejects(
        () =>
          spawn({ command: "script.sh", store: jobsDir, env: { PATH: dir } }),
        SpawnError,
        "Cannot execute script.sh: permission denied",
      );
    });
    await t.step("nothing was recorded", async () => {
      assert.equal(await Deno.stat(jobsDir).catch(() => undefined), undefined);
    });
  });
});

Deno.test({
  name:
    "spawn() refuses durations a record cannot hold, before anything is written or started",
  // The last step calls spawn() in this process, which starts supervisors
  // it never waits for: a leak to Deno 2.7's sanitizers (not 2.8 and later).
  sanitizeResources: false,
  sanitizeOps: false,
}, async (t) => {
  await superviseIfRequested();
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const bad: [string, number][] = [
      ["timeout", 1500.5],
      ["timeout", 0.5],
      ["timeout", -1],
      ["timeout", NaN],
      ["timeout", -Infinity],
      ["timeout", Number.MAX_VALUE],
      ["timeout", Number.MAX_SAFE_INTEGER],
      ["timeout", MAX_DURATION + 1],
      ["timeout", 1e21], // written in exponent form
      ["grace", 0.5],
      ["grace", -1],
      ["grace", Infinity],
      ["grace", MAX_DURATION + 1],
    ];
    for (const [option, value] of bad) {
      await t.step(`${option}: ${value}`, async () => {
        await assert.rejects(
          () => spawn({ command: "true", store: jobsDir, [option]: value }),
          RangeError,
          `Invalid ${option}`,
        );
      });
    }
    await t.step("nothing was recorded", () => {
      assert.equal(Deno.statSync(dir).isDirectory, true);
      assert.deepEqual(namesIn(dir), []);
    });
    await t.step(
      "0 and Infinity mean no limit; MAX_DURATION is a limit that does not fire at once",
      async () => {
        // In this process (JSON cannot carry Infinity to the spawner), with
        // a stand-in for a compiled binary as the supervisor.
        await withStandIn(dir, async () => {
          for (const timeout of [0, Infinity, MAX_DURATION]) {
            const { jobId, pid } = await spawn({
              command: "sleep",
              args: ["0.3"],
              store: jobsDir,
              timeout,
              grace: 0,
            });
            const job = await finalJob(jobsDir, jobId);
            assert.equal(job.status, "completed", `${timeout}: ${job.error}`);
            assert.equal(job.timeout, timeout === MAX_DURATION ? timeout : 0);
            assert.equal(job.grace, 0);
            await reaped(pid);
          }
        });
      },
    );
  });
});

/**
 * Runs `fn` with spawn() in this process starting a stand-in for a compiled
 * binary: like one, it takes the program's arguments directly (deno compile
 * cannot run on our machines), and it runs the spawner, which supervises.
 */
async function withStandIn(
  dir: string,
  fn: (binary: string) => Promise<void>,
): Promise<void> {
  const binary = join(dir, "epack-bin");
  await Deno.writeTextFile(
    binary,
    `#!/bin/sh\nexec ${JSON.stringify(DENO)} run -A ${
      JSON.stringify(SPAWNER)
    } "$@"\n`,
  );
  await Deno.chmod(binary, 0o755);
  _setRuntimeForTesting({
    standalone: true,
    execPath: binary,
    mainModule: "file:///ignored.ts",
    permissionFlags: [],
  });
  try {
    await fn(binary);
  } finally {
    _setRuntimeForTesting(undefined);
  }
}

/**
 * Waits until Deno has reaped a supervisor this process started, so its end
 * is not seen by the sanitizers of the next test.
 */
async function reaped(pid: number): Promise<void> {
  await until(
    "the supervisor to be reaped",
    () => readProcess(pid) === undefined ? true : undefined,
  );
}

Deno.test("spawn() inside a job refuses to detach again, unless allowNested says so", async (t) => {
  await withTempDir(async (dir) => {
    const store = new FileJobStore(dir);
    await t.step(
      "a real job whose worker calls spawn(): the error in its log, one job",
      async () => {
        // The spawner's worker path: given JSON options, it spawns.
        const inner = JSON.stringify({ command: "true", store: dir });
        const { jobId } = await mustSpawn({ subcommand: inner, store: dir });
        const job = await finalJob(dir, jobId);
        assert.equal(job.status, "failed");
        assert.equal(job.exitCode, 1);
        const log = await Deno.readTextFile(job.logPath);
        assert.match(
          log,
          new RegExp(
            `DetachRecursionError: A detached job cannot detach again: this process runs in job ${jobId}`,
          ),
        );
        const { jobs, invalid } = await store.list();
        assert.deepEqual(jobs.map((j) => j.id), [jobId]);
        assert.deepEqual(invalid, []);
        await store.delete(jobId);
      },
    );
    await t.step("with allowNested: true, the job starts a job", async () => {
      const inner = JSON.stringify({
        command: "sh",
        args: ["-c", "echo $EPACK_DETACH_JOB_ID"],
        store: dir,
        allowNested: true,
      });
      const { jobId } = await mustSpawn({ subcommand: inner, store: dir });
      const outer = await finalJob(dir, jobId);
      assert.equal(outer.status, "completed", outer.error);
      const nested: Spawned = JSON.parse(
        await Deno.readTextFile(outer.logPath),
      );
      const job = await finalJob(dir, nested.jobId);
      assert.equal(job.status, "completed", job.error);
      // The nested job is a job of its own, with its own mark.
      assert.equal(
        await Deno.readTextFile(job.logPath),
        `${nested.jobId}\n`,
      );
      const { jobs } = await store.list();
      assert.deepEqual(
        jobs.map((j) => j.id).sort(),
        [jobId, nested.jobId].sort(),
      );
    });
    await t.step(
      "in-process: the error says which job, nothing is written",
      async () => {
        await superviseIfRequested();
        const jobsDir = join(dir, "in-process");
        Deno.env.set("EPACK_DETACH_JOB_ID", "01ARYZ6S41TSV4RRFFQ69G5FAV");
        try {
          const err = await spawn({ command: "true", store: jobsDir }).then(
            () => undefined,
            (err) => err,
          );
          assert.ok(err instanceof DetachRecursionError, String(err));
          assert.equal(err.jobId, "01ARYZ6S41TSV4RRFFQ69G5FAV");
          assert.equal(err.flag, undefined);
          await assert.rejects(
            () => spawn({ subcommand: "echo", store: jobsDir }),
            DetachRecursionError,
          );
        } finally {
          Deno.env.delete("EPACK_DETACH_JOB_ID");
        }
        assert.equal(
          await Deno.stat(jobsDir).catch(() => undefined),
          undefined,
        );
      },
    );
  });
});

Deno.test({
  name: "spawn() on a full disk fails and leaves nothing in the jobs directory",
  ignore: !CAN_MOUNT,
}, async () => {
  await superviseIfRequested();
  await withFullDisk(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const err = await spawnFailure(() =>
      spawn({ command: "true", store: jobsDir })
    );
    assert.match(err.message, /Cannot record the job in .*: No space left/);
    assert.deepEqual(namesIn(jobsDir), []);
  }, ["jobs"]);
});

Deno.test("spawn() names a missing Deno permission instead of failing as something else", async (t) => {
  await withTempDir(async (dir) => {
    const jobsDir = join(dir, "jobs");
    const cases: [string, string[], Record<string, unknown>, RegExp][] = [
      [
        "no --allow-env: not 'Command not found'",
        ["--allow-read", "--allow-write"],
        { command: "true" },
        /SpawnError: spawn\(\) needs --allow-env/,
      ],
      [
        "--allow-env for the job mark but not PATH",
        [
          "--allow-read",
          "--allow-write",
          "--allow-run",
          "--allow-env=EPACK_DETACH_JOB_ID",
        ],
        { command: "true" },
        /SpawnError: spawn\(\) needs --allow-env \(to read PATH/,
      ],
      [
        "no --allow-run",
        ["--allow-read", "--allow-write", "--allow-env"],
        { subcommand: "echo" },
        /SpawnError: spawn\(\) needs --allow-run \(to start the job's supervisor/,
      ],
      [
        "no write permission for the jobs directory",
        [
          "--allow-read",
          `--allow-write=${join(dir, "elsewhere")}`,
          "--allow-env",
          "--allow-run",
        ],
        { subcommand: "echo" },
        /SpawnError: spawn\(\) needs --allow-write \(to record the job in /,
      ],
      [
        "a scoped read the supervisor would not get",
        [`--allow-read=${dir}`, "--allow-write", "--allow-env", "--allow-run"],
        { subcommand: "echo" },
        /SpawnError: spawn\(\) needs --allow-read granted without a list/,
      ],
    ];
    for (const [what, flags, options, message] of cases) {
      await t.step(what, async () => {
        const r = await spawnJob({ ...options, store: jobsDir }, flags);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, message);
        assert.equal(
          await Deno.stat(jobsDir).catch(() => undefined),
          undefined,
          "nothing was written",
        );
      });
    }
    await t.step(
      "a program given by path needs no PATH, and the job runs",
      async () => {
        const { jobId } = await mustSpawn(
          { command: "/bin/sh", args: ["-c", "echo ran"], store: jobsDir },
          [
            "--allow-read",
            "--allow-write",
            "--allow-run",
            "--allow-env=EPACK_DETACH_JOB_ID",
          ],
        );
        const job = await finalJob(jobsDir, jobId);
        assert.equal(job.status, "completed", job.error);
        assert.equal(await Deno.readTextFile(job.logPath), "ran\n");
      },
    );
  });
});
