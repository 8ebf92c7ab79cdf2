// Specification of the job store (jobs.ts), tested on real files in temp
// directories and with real `deno` subprocesses for everything that crosses
// a process boundary: locking, atomic replacement, ID uniqueness. The record
// format is specified in _record_test.ts, IDs in _job_id_test.ts, liveness
// and the lost rule in _liveness_test.ts.

import assert from "node:assert/strict";
import { join } from "node:path";
import {
  AmbiguousJobIdError,
  FileJobStore,
  InvalidJobFileError,
  InvalidJobIdError,
  type Job,
  JobNotFoundError,
} from "./jobs.ts";
import { parseJobRecord, toRecord } from "./store/record.ts";
import { isJobReference } from "./store/job_id.ts";
import {
  backdate,
  type Child,
  DAY,
  epackRecord,
  exists,
  finish,
  HOSTILE_IDS,
  HOUR,
  isInvalidId,
  kill,
  spawnScript,
  startHolder,
  waitFor,
  withStore,
  writeScript,
} from "./testdata/store_helpers.ts";
import { CAN_MOUNT, namesIn, withFullDisk } from "./testdata/full_disk.ts";
import { letGo } from "./testdata/poll.ts";

/** Every path under `root` with its type, size, mtime and contents. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      const info = await Deno.lstat(path);
      if (entry.isDirectory) {
        out.set(path, "dir");
        await walk(path);
      } else {
        const data = entry.isFile
          ? await Deno.readFile(path)
          : new Uint8Array();
        out.set(
          path,
          `${info.size}:${info.mtime?.getTime()}:${Array.from(data).join(",")}`,
        );
      }
    }
  };
  await walk(root);
  return out;
}

// ---------------------------------------------------------------------------
// Round trip

Deno.test("JobStore round trip: create, load, update, end", async (t) => {
  await withStore(async (store) => {
    await t.step(
      "list() of a jobs dir that does not exist is empty",
      async () => {
        assert.deepEqual(await store.list(), { jobs: [], invalid: [] });
      },
    );

    let job!: Job;
    await t.step(
      "create() writes a running job that load() returns",
      async () => {
        const before = Date.now();
        job = await store.create({
          command: "pull",
          args: ["https://example.com/r"],
          flags: ["--env", "prod", "--ci"],
          pid: 1234,
          workingDir: "/work",
          timeout: 60_000,
          argv: ["deno", "run", "x.ts"],
          grace: 5_000,
        });
        assert.equal(job.status, "running");
        assert.ok(job.startedAt.getTime() >= before);
        assert.ok(job.startedAt.getTime() <= Date.now());
        assert.equal(job.logPath, join(store.dir, `${job.id}.log`));
        assert.equal(await Deno.readTextFile(job.logPath), "");
        assert.deepEqual(await store.load(job.id), job);
        assert.deepEqual(await store.loadRecorded(job.id), job);
      },
    );

    await t.step("create() refuses an ID that exists", async () => {
      await assert.rejects(
        store.create({ command: "pull", id: job.id }),
        Deno.errors.AlreadyExists,
      );
      assert.deepEqual(await store.load(job.id), job);
    });

    await t.step("create() takes a chosen valid ID", async () => {
      const mine = await store.create({ command: "push", id: "my_job_1" });
      assert.equal(mine.id, "my_job_1");
      assert.deepEqual(mine.args, []);
      assert.deepEqual(mine.flags, []);
      assert.equal(mine.pid, 0);
      assert.equal((await store.load("my_job_1")).command, "push");
    });

    await t.step("update() persists changes and keeps the ID", async () => {
      const updated = await store.update(job.id, (j) => {
        j.pid = 999;
        j.workerPid = 1000;
        j.workerStartTicks = 123456;
        j.cancelRequestedAt = new Date(1_700_000_000_000);
        j.id = "someone_else";
        return j;
      });
      assert.equal(updated.id, job.id);
      const loaded = await store.load(job.id);
      assert.equal(loaded.pid, 999);
      assert.equal(loaded.workerPid, 1000);
      assert.equal(loaded.workerStartTicks, 123456);
      assert.deepEqual(loaded.cancelRequestedAt, new Date(1_700_000_000_000));
      assert.equal(await exists(store.recordPath("someone_else")), false);
    });

    await t.step(
      "update() gets a copy: mutating it without returning it changes nothing",
      async () => {
        let seen: Job | undefined;
        await store.update(job.id, (j) => {
          seen = j;
          return { ...j, pid: 7 };
        });
        seen!.pid = 8;
        assert.equal((await store.load(job.id)).pid, 7);
      },
    );

    await t.step(
      "update() whose function throws leaves the record as it was",
      async () => {
        const before = await Deno.readTextFile(store.recordPath(job.id));
        await assert.rejects(
          store.update(job.id, () => {
            throw new Error("boom");
          }),
          /boom/,
        );
        assert.equal(await Deno.readTextFile(store.recordPath(job.id)), before);
      },
    );

    await t.step(
      "update() of a missing job throws JobNotFoundError",
      async () => {
        await assert.rejects(
          store.update("NOPE", (j) => j),
          JobNotFoundError,
        );
        await assert.rejects(store.load("NOPE"), (err: unknown) => {
          assert.ok(err instanceof JobNotFoundError);
          assert.equal(err.id, "NOPE");
          assert.equal(err.message, `Job not found: NOPE in ${store.dir}`);
          return true;
        });
      },
    );

    await t.step("finish() records completed, with a result", async () => {
      const before = Date.now();
      const done = await store.finish(job.id, {
        status: "completed",
        exitCode: 0,
        result: { bytes: 10 },
      });
      assert.equal(done.status, "completed");
      assert.equal(done.exitCode, 0);
      assert.ok(done.completedAt!.getTime() >= before);
      assert.deepEqual(done.result, { bytes: 10 });
      assert.equal(done.error, undefined);
      assert.deepEqual(await store.load(job.id), done);
    });

    await t.step("the first end wins", async () => {
      const first = await store.load(job.id);
      assert.deepEqual(
        await store.finish(job.id, { status: "failed", error: "too late" }),
        first,
      );
      assert.deepEqual(
        await store.finish(job.id, { status: "failed", exitCode: 3 }),
        first,
      );
      assert.deepEqual(
        await store.finish(job.id, { status: "cancelled" }),
        first,
      );
      assert.deepEqual(await store.load(job.id), first);
    });

    await t.step(
      "finish() records failed with a non-zero code or a signal",
      async () => {
        const a = await store.create({ command: "pull" });
        const failed = await store.finish(a.id, {
          status: "failed",
          exitCode: 2,
        });
        assert.equal(failed.status, "failed");
        assert.equal(failed.exitCode, 2);

        const b = await store.create({ command: "pull" });
        const killed = await store.finish(b.id, {
          status: "failed",
          signal: "SIGKILL",
        });
        assert.equal(killed.status, "failed");
        assert.equal(killed.signal, "SIGKILL");
        assert.equal(killed.exitCode, undefined);
        assert.equal((await store.load(b.id)).signal, "SIGKILL");
      },
    );

    await t.step("finish() records failed with the message", async () => {
      const j = await store.create({ command: "pull" });
      const failed = await store.finish(j.id, {
        status: "failed",
        error: "could not start: ENOENT",
      });
      assert.equal(failed.status, "failed");
      assert.equal(failed.error, "could not start: ENOENT");
      assert.ok(failed.completedAt instanceof Date);
      assert.equal((await store.load(j.id)).error, "could not start: ENOENT");
    });

    await t.step(
      "finish() records timed_out and cancelled, never running",
      async () => {
        for (const status of ["timed_out", "cancelled"] as const) {
          const j = await store.create({ command: "pull" });
          const ended = await store.finish(j.id, { status, error: status });
          assert.equal(ended.status, status);
          assert.equal((await store.load(j.id)).status, status);
        }
        const j = await store.create({ command: "pull" });
        await assert.rejects(
          // @ts-expect-error: "running" is not a final status.
          store.finish(j.id, { status: "running" }),
          TypeError,
        );
        assert.equal((await store.load(j.id)).completedAt, undefined);
      },
    );
  });
});

Deno.test("JobStore.list() returns jobs newest first and filters by status", async (t) => {
  await withStore(async (store) => {
    const a = await store.create({ command: "a", id: "job_a" });
    const b = await store.create({ command: "b", id: "job_b" });
    const c = await store.create({ command: "c", id: "job_c" });
    await backdate(store, a.id, 3 * HOUR);
    await backdate(store, b.id, 1 * HOUR);
    await backdate(store, c.id, 2 * HOUR);
    await store.finish(c.id, { status: "completed", exitCode: 0 });

    await t.step("newest first by start time", async () => {
      const { jobs, invalid } = await store.list();
      assert.deepEqual(jobs.map((j) => j.id), ["job_b", "job_c", "job_a"]);
      assert.deepEqual(invalid, []);
    });

    await t.step("equal start times: the larger ID first", async () => {
      const at = new Date(Date.now() - 5 * HOUR);
      for (const id of ["tie_1", "tie_3", "tie_2"]) {
        await store.create({ command: "t", id });
        await store.update(id, (j) => ({ ...j, startedAt: at }));
      }
      const { jobs } = await store.list();
      assert.deepEqual(jobs.map((j) => j.id).slice(-3), [
        "tie_3",
        "tie_2",
        "tie_1",
      ]);
    });

    await t.step(
      "status filter, after liveness is taken into account",
      async () => {
        await store.create({ command: "n", id: "job_new" });
        const running = await store.list({ status: "running" });
        assert.deepEqual(running.jobs.map((j) => j.id), ["job_new"]);
        // Recorded as running, but created long ago and never supervised.
        const lost = await store.list({ status: "lost" });
        assert.deepEqual(lost.jobs.map((j) => j.id), [
          "job_b",
          "job_a",
          "tie_3",
          "tie_2",
          "tie_1",
        ]);
        const completed = await store.list({ status: "completed" });
        assert.deepEqual(completed.jobs.map((j) => j.id), ["job_c"]);
        assert.deepEqual((await store.list({ status: "failed" })).jobs, []);
      },
    );

    await t.step(
      "list() ignores logs, locks, temp and hidden files",
      async () => {
        await Deno.writeTextFile(join(store.dir, "notes.txt"), "hello");
        await Deno.writeTextFile(join(store.dir, ".hidden.json"), "{");
        await Deno.writeTextFile(join(store.dir, ".job_a.1234abcd.tmp"), "{");
        const { jobs, invalid } = await store.list();
        assert.equal(jobs.length, 7);
        assert.deepEqual(invalid, []);
      },
    );
  });
});

Deno.test("JobStore.delete() removes a job's files", async (t) => {
  await withStore(async (store) => {
    await t.step("with its log by default", async () => {
      const job = await store.create({ command: "pull" });
      await Deno.writeTextFile(job.logPath, "output\n");
      const live = await store.hold(job.id);
      await live[Symbol.asyncDispose]();
      await store.finish(job.id, { status: "completed", exitCode: 0 });
      assert.ok(await exists(store.livenessPath(job.id)));
      assert.ok(await exists(join(store.dir, `${job.id}.lock`)));

      await store.delete(job.id);
      for (const ext of ["json", "log", "live", "lock"]) {
        assert.equal(
          await exists(join(store.dir, `${job.id}.${ext}`)),
          false,
          ext,
        );
      }
      await assert.rejects(store.load(job.id), JobNotFoundError);
    });

    await t.step("keeping the log with { log: false }", async () => {
      const job = await store.create({ command: "pull" });
      await Deno.writeTextFile(job.logPath, "keep me\n");
      await store.delete(job.id, { log: false });
      assert.equal(await exists(store.recordPath(job.id)), false);
      assert.equal(await Deno.readTextFile(job.logPath), "keep me\n");
    });

    await t.step("of a missing job throws JobNotFoundError", async () => {
      await assert.rejects(store.delete("NOPE"), JobNotFoundError);
    });

    await t.step("leaves other jobs alone", async () => {
      const keep = await store.create({ command: "keep" });
      const gone = await store.create({ command: "gone" });
      await store.delete(gone.id);
      assert.deepEqual(await store.load(keep.id), keep);
      assert.ok(await exists(keep.logPath));
    });
  });
});

Deno.test("JobStore path helpers name files inside the jobs dir and create nothing", async () => {
  await withStore(async (store, tmp) => {
    assert.equal(store.dir, join(tmp, "jobs"));
    assert.equal(store.logPath("abc"), join(tmp, "jobs", "abc.log"));
    assert.equal(store.recordPath("abc"), join(tmp, "jobs", "abc.json"));
    assert.equal(store.livenessPath("abc"), join(tmp, "jobs", "abc.live"));
    // Relative directories are made absolute against the cwd.
    assert.equal(
      new FileJobStore("rel/jobs").dir,
      join(Deno.cwd(), "rel/jobs"),
    );
    // Opening a store and asking for paths creates nothing.
    assert.equal(await exists(store.dir), false);
  });
});

Deno.test("JobStore never re-creates a jobs dir that was removed", async (t) => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    // As when a user removes the jobs dir while a supervisor still runs.
    await Deno.remove(store.dir, { recursive: true });
    const ops: [string, () => Promise<unknown>][] = [
      ["update", () => store.update(job.id, (j) => j)],
      [
        "complete",
        () => store.finish(job.id, { status: "completed", exitCode: 0 }),
      ],
      ["fail", () => store.finish(job.id, { status: "failed", error: "x" })],
      ["delete", () => store.delete(job.id)],
      ["hold", () => store.hold(job.id)],
      ["load", () => store.load(job.id)],
    ];
    for (const [name, op] of ops) {
      await t.step(
        `${name}() throws JobNotFoundError and creates nothing`,
        async () => {
          await assert.rejects(op(), JobNotFoundError);
          assert.equal(await exists(store.dir), false);
        },
      );
    }
  });
});

Deno.test("JobStore.resolve() finds a job by unique prefix", async (t) => {
  await withStore(async (store) => {
    await t.step("in a missing jobs dir: not found", async () => {
      await assert.rejects(store.resolve("job"), JobNotFoundError);
    });
    for (const id of ["job_alpha1", "job_alpha2", "job_beta", "job_b"]) {
      await store.create({ command: "pull", id });
    }
    await t.step("exact ID", async () => {
      assert.equal(await store.resolve("job_alpha1"), "job_alpha1");
    });
    await t.step("an exact ID wins over longer IDs it prefixes", async () => {
      assert.equal(await store.resolve("job_b"), "job_b");
    });
    await t.step("unique prefix", async () => {
      assert.equal(await store.resolve("job_be"), "job_beta");
    });
    await t.step("ambiguous prefix lists the candidates", async () => {
      await assert.rejects(store.resolve("job_al"), (err: unknown) => {
        assert.ok(err instanceof AmbiguousJobIdError);
        assert.equal(err.ref, "job_al");
        assert.deepEqual(err.candidates, ["job_alpha1", "job_alpha2"]);
        assert.match(err.message, /job_alpha1, job_alpha2/);
        assert.equal(err.name, "AmbiguousJobIdError");
        return true;
      });
      await assert.rejects(store.resolve("job_"), (err: unknown) => {
        assert.ok(err instanceof AmbiguousJobIdError);
        assert.deepEqual(err.candidates, [
          "job_alpha1",
          "job_alpha2",
          "job_b",
          "job_beta",
        ]);
        return true;
      });
    });
    await t.step("a unique suffix, when no ID has the prefix", async () => {
      assert.equal(await store.resolve("beta"), "job_beta");
      assert.equal(await store.resolve("pha2"), "job_alpha2");
    });
    await t.step("an ambiguous suffix lists the candidates", async () => {
      await store.create({ command: "pull", id: "x_same" });
      await store.create({ command: "pull", id: "y_same" });
      await assert.rejects(store.resolve("same"), (err: unknown) => {
        assert.ok(err instanceof AmbiguousJobIdError);
        assert.deepEqual(err.candidates, ["x_same", "y_same"]);
        return true;
      });
      await store.delete("x_same");
      await store.delete("y_same");
    });
    await t.step("prefix matches win over suffix matches", async () => {
      await store.create({ command: "pull", id: "beta_x" });
      assert.equal(await store.resolve("beta"), "beta_x");
      await store.delete("beta_x");
    });
    await t.step("the message names at most 10 candidates", () => {
      const ids = Array.from({ length: 12 }, (_, i) => `job_${i + 10}`);
      const err = new AmbiguousJobIdError("job_", ids);
      assert.equal(err.candidates.length, 12);
      assert.match(err.message, /job_19 and 2 more\); give more of the ID$/);
      assert.doesNotMatch(err.message, /job_20/);
    });
    await t.step("no match, or too short to be part of an ID", async () => {
      await assert.rejects(store.resolve("zzzz"), (err: unknown) => {
        assert.ok(err instanceof JobNotFoundError);
        assert.equal(err.id, "zzzz");
        return true;
      });
      await assert.rejects(store.resolve("job"), (err: unknown) => {
        assert.ok(err instanceof JobNotFoundError);
        assert.equal(err.id, "job");
        assert.match(err.message, /needs at least 4 characters/);
        return true;
      });
    });
    await t.step("logs and lock files are not jobs", async () => {
      await Deno.writeTextFile(join(store.dir, "other_1.log"), "");
      await assert.rejects(store.resolve("other"), JobNotFoundError);
    });
  });
});

// ---------------------------------------------------------------------------
// Hostile IDs

Deno.test("JobStore rejects hostile IDs and touches nothing outside the jobs dir", async (t) => {
  await withStore(async (store, tmp) => {
    const victim = await store.create({ command: "pull", id: "x" });
    // Records that a store without ID checks would find for "../x" and "a/b",
    // each claiming that ID so parsing alone would not reject them.
    const planted = JSON.stringify(
      toRecord({ ...victim, id: "../x", command: "planted" }),
    );
    await Deno.writeTextFile(join(tmp, "x.json"), planted);
    await Deno.writeTextFile(join(tmp, "x.log"), "outside log");
    await Deno.mkdir(join(store.dir, "a"));
    await Deno.writeTextFile(
      join(store.dir, "a", "b.json"),
      JSON.stringify(toRecord({ ...victim, id: "a/b", command: "planted" })),
    );
    const before = await snapshot(tmp);

    for (const [id, reason] of HOSTILE_IDS) {
      await t.step(JSON.stringify(id), async () => {
        const check = isInvalidId(id, reason);
        const rejects = (p: Promise<unknown>) => assert.rejects(p, check);
        await rejects(store.load(id));
        await rejects(store.loadRecorded(id));
        await rejects(store.update(id, (j) => ({ ...j, command: "pwned" })));
        await rejects(store.finish(id, { status: "completed", exitCode: 0 }));
        await rejects(store.finish(id, { status: "failed", error: "x" }));
        await rejects(store.finish(id, { status: "cancelled" }));
        await rejects(store.delete(id));
        // resolve() takes references: a name may hold `.` and `-`, and is
        // looked up in the records, never as a path.
        await assert.rejects(
          store.resolve(id),
          isJobReference(id) ? JobNotFoundError : InvalidJobIdError,
        );
        await rejects(store.create({ command: "pull", id }));
        await rejects(store.hold(id));
        await rejects(store.isHeld(id));
        assert.throws(() => store.logPath(id), check);
        assert.throws(() => store.recordPath(id), check);
        assert.throws(() => store.livenessPath(id), check);
      });
    }

    await t.step("nothing was created, changed or removed", async () => {
      assert.deepEqual(await snapshot(tmp), before);
      assert.equal(await Deno.readTextFile(join(tmp, "x.json")), planted);
    });
  });
});

// ---------------------------------------------------------------------------
// Corrupt and foreign files

Deno.test("JobStore.list() reports corrupt and foreign files without hiding valid jobs", async (t) => {
  await withStore(async (store) => {
    const good = await store.create({ command: "pull", id: "GOOD" });
    const done = await store.create({ command: "pull", id: "DONE" });
    await store.finish(done.id, { status: "completed", exitCode: 0 });
    await backdate(store, done.id, HOUR);
    const valid = JSON.parse(epackRecord("X"));
    const record = (id: string, patch: Record<string, unknown>) =>
      JSON.stringify({ ...valid, id, ...patch });
    const files: [string, string | Uint8Array, string][] = [
      ["EMPTY", "", "empty file"],
      ["BLANK", " \n\t\n", "empty file"],
      ["BADJSON", '{"id": "BADJSON", ', "not valid JSON ("],
      ["TRUNCATED", epackRecord("TRUNCATED").slice(0, 40), "not valid JSON ("],
      ["ARRAY", "[]", "not a JSON object"],
      ["NUMBER", "42", "not a JSON object"],
      ["NULL", "null", "not a JSON object"],
      ["STRING", '"job"', "not a JSON object"],
      ["NOKEYS", "{}", 'missing "id"'],
      [
        "NOCOMMAND",
        record("NOCOMMAND", { command: undefined }),
        'missing "command"',
      ],
      [
        "NOSTATUS",
        record("NOSTATUS", { status: undefined }),
        'missing "status"',
      ],
      [
        "NOSTART",
        record("NOSTART", { started_at: undefined }),
        'missing "started_at"',
      ],
      [
        "PIDSTRING",
        record("PIDSTRING", { pid: "12" }),
        '"pid" is not an integer',
      ],
      ["PIDFLOAT", record("PIDFLOAT", { pid: 1.5 }), '"pid" is not an integer'],
      ["IDNUMBER", '{"id": 5}', '"id" is not a string'],
      [
        "ARGSSTRING",
        record("ARGSSTRING", { args: "a b" }),
        '"args" is not a list of strings',
      ],
      [
        "ARGSNUMS",
        record("ARGSNUMS", { args: [1, 2] }),
        '"args" is not a list of strings',
      ],
      [
        "STARTNUM",
        record("STARTNUM", { started_at: 1704110400 }),
        '"started_at" is not a string',
      ],
      [
        "STARTWORD",
        record("STARTWORD", { started_at: "yesterday" }),
        '"started_at" is not an RFC 3339 time',
      ],
      [
        "STARTDATE",
        record("STARTDATE", { started_at: "2024-01-01" }),
        '"started_at" is not an RFC 3339 time',
      ],
      [
        "STARTBAD",
        record("STARTBAD", { started_at: "2024-13-45T99:00:00Z" }),
        '"started_at" is not an RFC 3339 time',
      ],
      [
        "ENDBAD",
        record("ENDBAD", { completed_at: "soon" }),
        '"completed_at" is not an RFC 3339 time',
      ],
      [
        "EXITFLOAT",
        record("EXITFLOAT", { exit_code: "0" }),
        '"exit_code" is not an integer',
      ],
      [
        "RESULTLIST",
        record("RESULTLIST", { result: [1] }),
        '"result" is not an object',
      ],
      [
        "RESULTSTR",
        record("RESULTSTR", { result: "ok" }),
        '"result" is not an object',
      ],
      [
        "BADSTATUS",
        record("BADSTATUS", { status: "zombie" }),
        'unknown status "zombie"',
      ],
      [
        "MISMATCH",
        record("OTHER", {}),
        '"id" is "OTHER", but the file is named for MISMATCH',
      ],
      ["config", '{"registry": "https://example.com"}', 'missing "id"'],
      [
        "BINARY",
        new Uint8Array([0xff, 0xfe, 0x00, 0x7b, 0x80, 0x81, 0x0a]),
        "not valid",
      ],
    ];
    await store.ensureDir();
    for (const [id, data, _] of files) {
      const path = store.recordPath(id);
      if (typeof data === "string") await Deno.writeTextFile(path, data);
      else await Deno.writeFile(path, data);
    }
    await Deno.mkdir(store.recordPath("DIRJOB"));
    await Deno.writeTextFile(join(store.dir, "my-notes.json"), "{}");
    await Deno.writeTextFile(join(store.dir, "package.lock.json"), "{}");
    const expected = new Map<string, string>(
      files.map(([id, , reason]) => [id, reason]),
    );
    expected.set("DIRJOB", "not a regular file");
    expected.set("my-notes.json", "file name is not a valid job ID");
    expected.set("package.lock.json", "file name is not a valid job ID");

    await t.step(
      "list() never throws and returns every valid job",
      async () => {
        const { jobs, invalid } = await store.list();
        assert.deepEqual(jobs.map((j) => j.id), ["GOOD", "DONE"]);
        assert.deepEqual(
          invalid.map((f) => f.id),
          [...expected.keys()].sort(),
        );
        for (const file of invalid) {
          const reason = expected.get(file.id)!;
          assert.ok(
            file.reason.startsWith(reason),
            `${file.id}: ${file.reason} does not start with ${reason}`,
          );
          assert.equal(
            file.path,
            join(
              store.dir,
              file.id.endsWith(".json") ? file.id : `${file.id}.json`,
            ),
          );
        }
      },
    );

    await t.step("the status filter still works", async () => {
      const { jobs, invalid } = await store.list({ status: "running" });
      assert.deepEqual(jobs.map((j) => j.id), [good.id]);
      assert.equal(invalid.length, expected.size);
    });

    await t.step(
      "load() of a corrupt record throws InvalidJobFileError",
      async () => {
        for (const [id, reason] of expected) {
          if (id.endsWith(".json")) continue;
          await assert.rejects(store.load(id), (err: unknown) => {
            assert.ok(err instanceof InvalidJobFileError, `${id}: ${err}`);
            assert.equal(err.name, "InvalidJobFileError");
            assert.equal(err.id, id);
            assert.equal(err.path, store.recordPath(id));
            assert.ok(err.reason.startsWith(reason), `${id}: ${err.reason}`);
            assert.equal(
              err.message,
              `Invalid job file ${err.path}: ${err.reason}`,
            );
            return true;
          });
        }
      },
    );

    await t.step(
      "update() of a corrupt record throws and leaves it alone",
      async () => {
        const before = await Deno.readTextFile(store.recordPath("BADSTATUS"));
        await assert.rejects(
          store.update("BADSTATUS", (j) => j),
          InvalidJobFileError,
        );
        await assert.rejects(
          store.finish("MISMATCH", { status: "completed", exitCode: 0 }),
          InvalidJobFileError,
        );
        assert.equal(
          await Deno.readTextFile(store.recordPath("BADSTATUS")),
          before,
        );
      },
    );

    await t.step("a foreign file name cannot be loaded as an ID", async () => {
      await assert.rejects(store.load("my-notes"), InvalidJobIdError);
    });
  });
});

// ---------------------------------------------------------------------------
// Concurrency across processes

const UPDATER = `
const [dir, id, name, n] = Deno.args;
const store = new FileJobStore(dir);
console.log("ready");
// Wait for the go signal so that all writers start together.
await new Response(Deno.stdin.readable).text();
for (let i = 0; i < Number(n); i++) {
  await store.update(id, (job) => {
    const result = job.result ?? {};
    const counter = (result.counter as string[] | undefined) ?? [];
    counter.push(name + ":" + i);
    result.counter = counter;
    result.total = ((result.total as number | undefined) ?? 0) + 1;
    job.result = result;
    return job;
  });
}
console.log("done");
`;

Deno.test("JobStore.update() from 4 processes loses no update", async () => {
  await withStore(async (store, tmp) => {
    const job = await store.create({ command: "pull" });
    const script = await writeScript(tmp, "updater.ts", UPDATER);
    const N = 50;
    const names = ["p0", "p1", "p2", "p3"];
    const children = names.map((name) => {
      const process = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "--quiet",
          script,
          store.dir,
          job.id,
          name,
          String(N),
        ],
        stdin: "piped",
        stdout: "piped",
        stderr: "inherit",
      }).spawn();
      const reader = process.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      return { process, reader, out: "" } satisfies Child;
    });
    try {
      await Promise.all(children.map((c) => waitFor(c, "ready")));
      // Closing stdin is the go signal.
      await Promise.all(children.map((c) => c.process.stdin.close()));
      await Promise.all(children.map((c) => finish(c)));
    } finally {
      await Promise.all(children.map(async (c) => {
        await c.process.stdin.close().catch(() => {});
        await kill(c);
      }));
    }
    const final = await store.load(job.id);
    const counter = final.result!.counter as string[];
    assert.equal(counter.length, names.length * N);
    assert.equal(final.result!.total, names.length * N);
    assert.equal(new Set(counter).size, names.length * N);
    for (const name of names) {
      // Each process's own updates land in the order it made them.
      const mine = counter.filter((c) => c.startsWith(`${name}:`));
      assert.deepEqual(
        mine,
        Array.from({ length: N }, (_, i) => `${name}:${i}`),
      );
    }
  });
});

Deno.test("JobStore.update() called concurrently in one process loses no update", async () => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    await Promise.all(
      Array.from({ length: 25 }, () =>
        store.update(job.id, async (j) => {
          const n = (j.result?.n as number | undefined) ?? 0;
          // Yield inside the critical section to invite interleaving.
          await new Promise((r) => setTimeout(r, 1));
          j.result = { n: n + 1 };
          return j;
        })),
    );
    assert.equal((await store.load(job.id)).result!.n, 25);
  });
});

// ---------------------------------------------------------------------------
// Atomic replacement and file modes

const WRITER = `
const [dir, id, n, size] = Deno.args;
const store = new FileJobStore(dir);
for (let i = 0; i < Number(n); i++) {
  await store.update(id, (job) => {
    job.result = { i, blob: "x".repeat(Number(size) + i) };
    return job;
  });
}
`;

Deno.test("JobStore.update() replaces the record atomically: a reader never sees a torn file", async () => {
  await withStore(async (store, tmp) => {
    const job = await store.create({ command: "pull" });
    const SIZE = 256 * 1024;
    const N = 60;
    const script = await writeScript(tmp, "writer.ts", WRITER);
    const writer = spawnScript(script, [
      store.dir,
      job.id,
      String(N),
      String(SIZE),
    ]);
    let running = true;
    const done = finish(writer).finally(() => running = false);
    const path = store.recordPath(job.id);
    let reads = 0;
    const seen = new Set<number>();
    const torn: string[] = [];
    try {
      while (running) {
        const text = await Deno.readTextFile(path);
        reads++;
        try {
          const read = parseJobRecord(text, job.id, path);
          if (read.result !== undefined) {
            const { i, blob } = read.result as { i: number; blob: string };
            assert.equal(blob.length, SIZE + i);
            seen.add(i);
          }
        } catch (err) {
          torn.push(`${text.length} bytes: ${err}`);
        }
      }
    } finally {
      await done;
    }
    assert.deepEqual(torn, []);
    // The reader really ran alongside the writer.
    assert.ok(reads >= 10, `only ${reads} reads`);
    assert.ok(seen.size >= 2, `saw only versions ${[...seen]}`);
    const final = await store.load(job.id);
    assert.equal(final.result!.i, N - 1);

    const leftovers = [];
    for await (const entry of Deno.readDir(store.dir)) {
      if (entry.name.endsWith(".tmp")) leftovers.push(entry.name);
    }
    assert.deepEqual(leftovers, [], "temp files left behind");
  });
});

Deno.test("JobStore creates its files private to the user", async () => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    const live = await store.hold(job.id);
    await live[Symbol.asyncDispose]();
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    const mode = async (path: string) => (await Deno.stat(path)).mode! & 0o777;
    assert.equal(await mode(store.dir), 0o700, "jobs dir");
    assert.equal(await mode(store.recordPath(job.id)), 0o600, "record");
    assert.equal(await mode(job.logPath), 0o600, "log");
    assert.equal(await mode(store.livenessPath(job.id)), 0o600, "liveness");
    assert.equal(await mode(join(store.dir, `${job.id}.lock`)), 0o600, "lock");
  });
});

// ---------------------------------------------------------------------------
// clean()

Deno.test("JobStore.clean() removes old ended jobs and nothing else", async (t) => {
  await withStore(async (store, tmp) => {
    const old = 2 * DAY;
    const removable: string[] = [];
    for (
      const status of ["completed", "failed", "timed_out", "cancelled"] as const
    ) {
      const oldJob = await store.create({
        command: "pull",
        id: `old_${status}`,
      });
      await store.finish(oldJob.id, { status });
      await backdate(store, oldJob.id, old);
      removable.push(oldJob.id);
      const newJob = await store.create({
        command: "pull",
        id: `new_${status}`,
      });
      await store.finish(newJob.id, { status });
    }
    // Lost: its supervisor took the lock and died long ago.
    const lost = await store.create({ command: "pull", id: "old_lost" });
    await letGo(store, lost.id, await store.hold(lost.id));
    await backdate(store, lost.id, old);
    removable.push(lost.id);
    // Started long ago but ended just now: its end counts.
    const lateEnd = await store.create({ command: "pull", id: "late_end" });
    await backdate(store, lateEnd.id, old);
    await store.finish(lateEnd.id, { status: "completed", exitCode: 0 });
    // Running for two days, with its supervisor alive.
    const running = await store.create({ command: "pull", id: "old_running" });
    const holder = await startHolder(tmp, store, running.id);
    try {
      await backdate(store, running.id, old);
      // Invalid files are not the store's to remove.
      await Deno.writeTextFile(store.recordPath("config"), "{}");
      await Deno.writeTextFile(join(store.dir, "my-notes.json"), "notes");
      // Temp files from a crashed writer: an old one and a fresh one.
      const oldTemp = join(store.dir, ".old_completed.deadbeef.tmp");
      const newTemp = join(store.dir, ".new_completed.cafef00d.tmp");
      await Deno.writeTextFile(oldTemp, "{");
      await Deno.writeTextFile(newTemp, "{");
      const twoHoursAgo = new Date(Date.now() - 2 * HOUR);
      await Deno.utime(oldTemp, twoHoursAgo, twoHoursAgo);

      assert.equal((await store.load(lost.id)).status, "lost");
      for (const id of removable) {
        await Deno.writeTextFile(store.logPath(id), "log\n");
      }

      let removed: string[] = [];
      await t.step(
        "returns the IDs of old ended jobs, including lost ones",
        async () => {
          removed = await store.clean(DAY);
          assert.deepEqual([...removed].sort(), [...removable].sort());
        },
      );

      await t.step(
        "removes their records, logs, locks and liveness files",
        async () => {
          for (const id of removed) {
            for (const ext of ["json", "log", "lock", "live"]) {
              assert.equal(
                await exists(join(store.dir, `${id}.${ext}`)),
                false,
                `${id}.${ext}`,
              );
            }
          }
        },
      );

      await t.step("keeps newer jobs and the old running one", async () => {
        const { jobs, invalid } = await store.list();
        assert.deepEqual(jobs.map((j) => j.id).sort(), [
          "late_end",
          "new_cancelled",
          "new_completed",
          "new_failed",
          "new_timed_out",
          "old_running",
        ]);
        assert.equal((await store.load("old_running")).status, "running");
        assert.ok(await exists(store.logPath("old_running")));
        assert.deepEqual(invalid.map((f) => f.id), ["config", "my-notes.json"]);
      });

      await t.step(
        "leaves invalid files and fresh temp files alone",
        async () => {
          assert.equal(
            await Deno.readTextFile(store.recordPath("config")),
            "{}",
          );
          assert.ok(await exists(newTemp));
          assert.equal(await exists(oldTemp), false);
        },
      );

      await t.step(
        "with age 0 removes every ended job but never a running one",
        async () => {
          const more = await store.clean(0);
          assert.equal(more.includes("old_running"), false);
          const { jobs } = await store.list();
          assert.deepEqual(jobs.map((j) => j.id), ["old_running"]);
        },
      );
    } finally {
      await kill(holder);
    }

    await t.step("rejects a negative or non-finite age", async () => {
      await assert.rejects(store.clean(-1), RangeError);
      await assert.rejects(store.clean(NaN), RangeError);
      await assert.rejects(store.clean(Infinity), RangeError);
    });
  });
});

Deno.test("JobStore.clean() of a jobs dir that does not exist removes nothing", async () => {
  await withStore(async (store) => {
    assert.deepEqual(await store.clean(0), []);
  });
});

Deno.test("JobStore.clean() keeps the jobs its keep option keeps", async (t) => {
  await withStore(async (store) => {
    for (const id of ["a_job", "b_job", "c_job"]) {
      await store.create({ command: "pull", id });
      await store.finish(id, { status: "completed", exitCode: 0 });
    }
    await store.create({ command: "pull", id: "running_job" });
    await t.step("asked only about jobs it would remove", async () => {
      const asked: string[] = [];
      const removed = await store.clean(0, {
        keep: (job) => {
          asked.push(job.id);
          assert.equal(job.status, "completed");
          return job.id !== "c_job";
        },
      });
      assert.deepEqual(removed, ["c_job"]);
      assert.deepEqual([...asked].sort(), ["a_job", "b_job", "c_job"]);
    });
    await t.step("an async keep", async () => {
      const removed = await store.clean(0, {
        keep: async (job) => {
          await new Promise((r) => setTimeout(r, 1));
          return job.id === "a_job";
        },
      });
      assert.deepEqual(removed, ["b_job"]);
      const { jobs } = await store.list();
      assert.deepEqual(jobs.map((j) => j.id).sort(), ["a_job", "running_job"]);
    });
    await t.step("a keep that throws stops the clean", async () => {
      await assert.rejects(
        store.clean(0, {
          keep: () => {
            throw new Error("no /proc");
          },
        }),
        /no \/proc/,
      );
      assert.ok(await exists(store.recordPath("a_job")));
    });
  });
});

Deno.test("JobStore.clean() removes the debris of a create that died, and never a create in progress", async (t) => {
  await withStore(async (store) => {
    await store.ensureDir();
    const dir = store.dir;
    const old = new Date(Date.now() - HOUR);
    const make = async (name: string, when?: Date) => {
      await Deno.writeTextFile(
        join(dir, name),
        name.endsWith(".log") ? "x" : "",
      );
      if (when) await Deno.utime(join(dir, name), when, when);
    };
    // A create that died after its liveness file and log: old, unlocked.
    await make("dead.log", old);
    await make("dead.lock", old);
    await make("dead.live", old);
    // A create in progress: it holds its liveness lock (here, in this
    // process, on another open file: flock tells them apart).
    await make("busy.log", old);
    await make("busy.live", old);
    const busy = await Deno.open(join(dir, "busy.live"));
    await busy.lock(true);
    // A create that has only just begun: too new to judge.
    await make("fresh.log");
    await make("fresh.live");
    // A lock file of an ID that never had a record (update() of a missing
    // job makes one), old and fresh.
    await make("stray.lock", old);
    await make("newstray.lock");
    // A log kept on purpose by delete(id, { log: false }).
    const kept = await store.create({ command: "sync", id: "kept" });
    await store.finish(kept.id, { status: "failed", error: "x" });
    await store.delete(kept.id, { log: false });
    await Deno.utime(store.logPath(kept.id), old, old);
    // A real job, old and ended: clean(DAY) keeps it; its files are not debris.
    const job = await store.create({ command: "sync", id: "real" });
    await store.finish(job.id, { status: "completed", exitCode: 0 });
    for (const ext of ["log", "live", "lock"]) {
      await Deno.utime(join(dir, `real.${ext}`), old, old);
    }
    try {
      assert.deepEqual(await store.clean(DAY), []);
      await t.step("the dead create's files are gone", async () => {
        for (const ext of ["log", "lock", "live"]) {
          assert.equal(await exists(join(dir, `dead.${ext}`)), false, ext);
        }
        assert.equal(await exists(join(dir, "stray.lock")), false);
      });
      await t.step(
        "a create in progress, a fresh one, a kept log and a job stay",
        async () => {
          assert.deepEqual(
            [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
            [
              "busy.live",
              "busy.log",
              "fresh.live",
              "fresh.log",
              "kept.log",
              "newstray.lock",
              "real.json",
              "real.live",
              "real.lock",
              "real.log",
            ],
          );
          assert.equal((await store.load("real")).status, "completed");
        },
      );
    } finally {
      // Unlocked before the close: a child that the test runner forks
      // meanwhile (for any test) shares the open file until its exec, and
      // a close alone would release the lock only once that one is gone.
      await busy.unlock();
      busy.close();
    }
    await t.step(
      "once the create in progress lets go, it is debris",
      async () => {
        await store.clean(DAY);
        assert.equal(await exists(join(dir, "busy.live")), false);
        assert.equal(await exists(join(dir, "busy.log")), false);
      },
    );
  });
});

Deno.test("JobStore.create() leaves nothing behind when it fails, and never takes another create's files", async (t) => {
  await withStore(async (store) => {
    await store.ensureDir();
    await t.step("a create of an ID whose liveness lock is held", async () => {
      await Deno.writeTextFile(store.livenessPath("held"), "");
      const holder = await Deno.open(store.livenessPath("held"));
      await holder.lock(true);
      try {
        await assert.rejects(
          () => store.create({ command: "sync", id: "held" }),
          Deno.errors.AlreadyExists,
          "Job already exists: held",
        );
      } finally {
        holder.close();
      }
      assert.deepEqual(
        [...Deno.readDirSync(store.dir)].map((e) => e.name),
        ["held.live"],
      );
      await Deno.remove(store.livenessPath("held"));
    });
    await t.step("a second create of an existing ID", async () => {
      const job = await store.create({ command: "sync", id: "twice" });
      await Deno.writeTextFile(job.logPath, "output\n");
      await assert.rejects(
        () => store.create({ command: "sync", id: "twice" }),
        Deno.errors.AlreadyExists,
      );
      // The first job's files are its own: none was removed.
      assert.equal(await Deno.readTextFile(job.logPath), "output\n");
      assert.ok(await exists(store.livenessPath("twice")));
      assert.equal((await store.load("twice")).status, "running");
    });
  });
});

Deno.test({
  name: "JobStore.create() on a full disk fails and leaves no file",
  ignore: !CAN_MOUNT,
}, async () => {
  await withFullDisk(async (dir) => {
    const store = new FileJobStore(join(dir, "jobs"));
    await assert.rejects(
      () => store.create({ command: "sync", id: "full" }),
      (err) => /No space left/.test(String(err)),
    );
    assert.deepEqual(namesIn(store.dir), []);
    // And clean() has nothing to do there.
    assert.deepEqual(await store.clean(0), []);
  }, ["jobs"]);
});

// ---------------------------------------------------------------------------
// ULIDs in any case

Deno.test("JobStore finds a job by its ULID in any case", async (t) => {
  await withStore(async (store) => {
    const job = await store.create({ command: "pull" });
    const lower = job.id.toLowerCase();
    const mixed = job.id.slice(0, 13).toLowerCase() + job.id.slice(13);
    await t.step("the files are named in upper case", async () => {
      assert.match(job.id, /^[0-9A-Z]{26}$/);
      assert.ok(await exists(join(store.dir, `${job.id}.json`)));
    });
    await t.step("load() and loadRecorded()", async () => {
      assert.deepEqual(await store.load(lower), job);
      assert.deepEqual(await store.load(mixed), job);
      assert.deepEqual(await store.loadRecorded(lower), job);
    });
    await t.step("resolveId(): the full ID, a prefix, a suffix", async () => {
      assert.equal(await store.resolve(lower), job.id);
      assert.equal(await store.resolve(lower.slice(0, 12)), job.id);
      assert.equal(await store.resolve(lower.slice(-6)), job.id);
    });
    await t.step("update(), isHeld(), finish() and delete()", async () => {
      const updated = await store.update(lower, (j) => ({ ...j, pid: 42 }));
      assert.equal(updated.id, job.id);
      assert.equal((await store.load(job.id)).pid, 42);
      assert.equal(await store.isHeld(lower), false);
      assert.equal(
        (await store.finish(lower, { status: "completed", exitCode: 0 }))
          .status,
        "completed",
      );
      await store.delete(lower);
      assert.equal(await exists(store.recordPath(job.id)), false);
      await assert.rejects(store.load(lower), (err: unknown) => {
        assert.ok(err instanceof JobNotFoundError);
        // The ID looked up on disk: the ULID's one spelling.
        assert.equal(err.id, job.id);
        return true;
      });
    });
    await t.step("other IDs match only in their own case", async () => {
      await store.create({ command: "pull", id: "job_abc" });
      await assert.rejects(store.load("JOB_ABC"), JobNotFoundError);
      await assert.rejects(store.resolve("JOB_A"), JobNotFoundError);
      assert.equal(await store.resolve("job_a"), "job_abc");
    });
    await t.step("a job stored exactly as typed wins", async () => {
      // epack allows any [0-9A-Za-z_] ID, so a lower-case ULID can be a
      // job's real name.
      const upper = await store.create({ command: "upper" });
      const named = await store.create({
        command: "lower",
        id: upper.id.toLowerCase(),
      });
      assert.equal((await store.load(named.id)).command, "lower");
      assert.equal((await store.load(upper.id)).command, "upper");
      assert.equal(await store.resolve(named.id), named.id);
      assert.equal(await store.resolve(upper.id), upper.id);
    });
  });
});
