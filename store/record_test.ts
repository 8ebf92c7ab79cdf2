// Specification of the job record (_record.ts): epack's on-disk format, read
// and written through the store on real files, and the codec's table.

import assert from "node:assert/strict";
import {
  FIELD_KEYS,
  KNOWN_KEYS,
  parseJobRecord,
  serializeJobRecord,
  toRecord,
} from "./record.ts";
import { InvalidJobFileError, type Job, JOB_STATUSES } from "./job.ts";
import { InvalidJobIdError, isJobId } from "./job_id.ts";
import { FINAL_STATUSES, isFinalStatus, isSupervisedStatus } from "./rules.ts";
import { MAX_RETRIES } from "./job_options.ts";
import { epackRecord, readRaw, withStore } from "../testdata/store_helpers.ts";

const TESTDATA = new URL("../testdata/", import.meta.url);

// Go's time.Time.UnmarshalJSON accepts RFC 3339 with at most 9 fractional
// digits and an upper-case T and Z (it rejects lower-case since Go 1.20).
const GO_RFC3339 =
  /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Checks that a parsed record would unmarshal into epack's Go struct:
 * `id`, `command`, `status`, `log_path` strings, `args` []string or null,
 * `pid` int, `started_at` time, and the omitempty fields absent or typed.
 */
function assertEpackShape(raw: Record<string, unknown>) {
  const isInt = (v: unknown) =>
    typeof v === "number" && Number.isSafeInteger(v);
  assert.equal(typeof raw.id, "string", "id");
  assert.equal(typeof raw.command, "string", "command");
  assert.ok(
    raw.args === null ||
      (Array.isArray(raw.args) &&
        raw.args.every((a: unknown) => typeof a === "string")),
    "args",
  );
  assert.equal(typeof raw.status, "string", "status");
  assert.ok(isInt(raw.pid), "pid");
  assert.match(String(raw.started_at), GO_RFC3339, "started_at");
  assert.equal(typeof raw.log_path, "string", "log_path");
  if ("completed_at" in raw) {
    assert.match(String(raw.completed_at), GO_RFC3339, "completed_at");
  }
  if ("exit_code" in raw) assert.ok(isInt(raw.exit_code), "exit_code");
  if ("error" in raw) {
    assert.equal(typeof raw.error, "string", "error");
    assert.notEqual(raw.error, "", "error is omitempty");
  }
  if ("result" in raw) {
    assert.ok(
      typeof raw.result === "object" && raw.result !== null &&
        !Array.isArray(raw.result),
      "result",
    );
  }
}

// ---------------------------------------------------------------------------
// epack compatibility

Deno.test("JobStore reads records written by epack's Go CLI", async (t) => {
  await withStore(async (store) => {
    await store.ensureDir();

    await t.step(
      "a completed record with nanoseconds, offset and result",
      async () => {
        const id = "job_01HQ3K4M5N6P7Q8R9S0T";
        await Deno.copyFile(
          new URL("epack_completed.json", TESTDATA),
          store.recordPath(id),
        );
        const job = await store.load(id);
        assert.equal(job.id, id);
        assert.equal(job.command, "pull");
        assert.deepEqual(job.args, ["https://registry.example.com/acme/app"]);
        assert.deepEqual(job.flags, []);
        assert.equal(job.status, "completed");
        assert.equal(job.pid, 48213);
        // 12:00:00.123456789-07:00 is 19:00:00.123 UTC (milliseconds kept).
        assert.equal(job.startedAt.toISOString(), "2024-01-01T19:00:00.123Z");
        assert.equal(
          job.completedAt!.toISOString(),
          "2024-01-01T19:03:04.500Z",
        );
        assert.equal(job.exitCode, 0);
        assert.equal(
          job.logPath,
          "/home/dev/.epack/jobs/job_01HQ3K4M5N6P7Q8R9S0T.log",
        );
        assert.equal(job.error, undefined);
        assert.deepEqual(job.result, {
          bytes: 1048576,
          digest:
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
          path: "app.epack",
        });
        assert.equal(job.extra, undefined);
      },
    );

    await t.step("a failed record with null args and an error", async () => {
      const id = "job_01HQ3K4M5N6P7Q8R9S0U";
      await Deno.copyFile(
        new URL("epack_failed.json", TESTDATA),
        store.recordPath(id),
      );
      const job = await store.load(id);
      assert.deepEqual(job.args, []);
      assert.equal(job.status, "failed");
      assert.equal(job.exitCode, 2);
      assert.equal(job.startedAt.toISOString(), "2024-02-29T18:29:59.000Z");
      assert.equal(job.completedAt!.toISOString(), "2024-02-29T18:30:01.000Z");
      assert.equal(job.error, "digest mismatch: want sha256:aa, got sha256:bb");
      assert.equal(job.result, undefined);
    });

    await t.step("a running record with only the required keys", async () => {
      // Exactly what Go's encoding/json writes for a fresh Job: nil slice as
      // null, omitempty fields absent.
      const text = `{"id":"job_go_running","command":"pull","args":null,` +
        `"status":"running","pid":31337,` +
        `"started_at":"2024-01-01T12:00:00.123456789-07:00",` +
        `"log_path":"/home/dev/.epack/jobs/job_go_running.log"}`;
      await Deno.writeTextFile(store.recordPath("job_go_running"), text);
      const job = await store.load("job_go_running");
      assert.deepEqual(job, {
        id: "job_go_running",
        command: "pull",
        args: [],
        flags: [],
        // No liveness file: epack's own records are reported as recorded.
        status: "running",
        pid: 31337,
        startedAt: new Date("2024-01-01T19:00:00.123Z"),
        logPath: "/home/dev/.epack/jobs/job_go_running.log",
      });
    });

    await t.step("list() shows them beside our own jobs", async () => {
      const ours = await store.create({ command: "pull" });
      const { jobs, invalid } = await store.list();
      assert.deepEqual(invalid, []);
      assert.deepEqual(jobs.map((j) => j.id), [
        ours.id,
        "job_01HQ3K4M5N6P7Q8R9S0U",
        // Same start as the next one: the larger ID comes first.
        "job_go_running",
        "job_01HQ3K4M5N6P7Q8R9S0T",
      ]);
    });

    await t.step(
      "rewriting an epack record keeps it readable by epack",
      async () => {
        const id = "job_01HQ3K4M5N6P7Q8R9S0T";
        const before = await store.load(id);
        await store.update(id, (j) => j);
        const raw = await readRaw(store, id);
        assertEpackShape(raw);
        // The instants survive (to the millisecond, JavaScript's resolution).
        assert.equal(Date.parse(raw.started_at), before.startedAt.getTime());
        assert.equal(
          Date.parse(raw.completed_at),
          before.completedAt!.getTime(),
        );
        assert.equal(raw.exit_code, 0);
        assert.deepEqual(raw.result, before.result);
      },
    );
  });
});

Deno.test("JobStore writes records with epack's keys and JSON types", async (t) => {
  await withStore(async (store) => {
    const running = await store.create({
      command: "pull",
      args: ["r"],
      pid: 4321,
    });
    await t.step("a running job", async () => {
      const raw = await readRaw(store, running.id);
      assertEpackShape(raw);
      assert.deepEqual(Object.keys(raw).slice(0, 6), [
        "id",
        "command",
        "args",
        "status",
        "pid",
        "started_at",
      ]);
      assert.equal(raw.id, running.id);
      assert.equal(raw.status, "running");
      assert.equal(raw.pid, 4321);
      assert.deepEqual(raw.args, ["r"]);
      assert.equal(raw.log_path, running.logPath);
      assert.equal(Date.parse(raw.started_at), running.startedAt.getTime());
      // Go's omitempty fields are left out, not written as null or "".
      for (const key of ["completed_at", "exit_code", "error", "result"]) {
        assert.equal(key in raw, false, key);
      }
    });

    await t.step("a completed job with a result", async () => {
      await store.finish(running.id, {
        status: "completed",
        exitCode: 0,
        result: { bytes: 5, nested: { ok: true } },
      });
      const raw = await readRaw(store, running.id);
      assertEpackShape(raw);
      assert.equal(raw.status, "completed");
      assert.equal(raw.exit_code, 0);
      assert.deepEqual(raw.result, { bytes: 5, nested: { ok: true } });
      assert.equal("error" in raw, false);
    });

    await t.step("a failed job with an error", async () => {
      const j = await store.create({ command: "pull" });
      await store.finish(j.id, { status: "failed", error: "boom" });
      const raw = await readRaw(store, j.id);
      assertEpackShape(raw);
      assert.equal(raw.status, "failed");
      assert.equal(raw.error, "boom");
    });

    await t.step("every status is written as epack spells it", async () => {
      for (const status of FINAL_STATUSES) {
        const j = await store.create({ command: "pull" });
        await store.finish(j.id, { status });
        const raw = await readRaw(store, j.id);
        assertEpackShape(raw);
        assert.equal(raw.status, status);
      }
    });

    await t.step("toRecord() and parseJobRecord() are inverses", async () => {
      const job = await store.load(running.id);
      const text = JSON.stringify(toRecord(job));
      assert.deepEqual(parseJobRecord(text, job.id, "x.json"), job);
    });
  });
});

Deno.test("JobStore keeps unknown keys of a record through updates", async () => {
  await withStore(async (store) => {
    await store.ensureDir();
    const extra = {
      future_field: { nested: [1, 2, { deep: null }] },
      note: "keep me",
      labels: ["a", "b"],
    };
    await Deno.writeTextFile(
      store.recordPath("job_x"),
      epackRecord("job_x", { status: "running", ...extra }),
    );
    // Supervisor-style updates, then the end of the job.
    await store.update("job_x", (j) => ({ ...j, pid: 77 }));
    await store.finish("job_x", { status: "completed", exitCode: 0 });
    const raw = await readRaw(store, "job_x");
    for (const [key, value] of Object.entries(extra)) {
      assert.deepEqual(raw[key], value, key);
    }
    assert.equal(raw.pid, 77);
    assert.equal(raw.status, "completed");
    assert.deepEqual((await store.load("job_x")).extra, extra);
  });
});

// ---------------------------------------------------------------------------
// Statuses

Deno.test("JOB_STATUSES and FINAL_STATUSES agree", () => {
  assert.deepEqual(
    JOB_STATUSES.filter((s) => !isFinalStatus(s)),
    ["waiting", "queued", "running", "paused"],
  );
  assert.deepEqual(
    JOB_STATUSES.filter((s) => isFinalStatus(s)),
    [...FINAL_STATUSES],
  );
  assert.deepEqual(
    JOB_STATUSES.filter((s) => isSupervisedStatus(s)),
    ["running", "paused"],
  );
});

// ---------------------------------------------------------------------------
// The table of fields

// Every key, in the order written: epack's Go struct first, then ours.
const ORDER = [
  "id",
  "command",
  "args",
  "status",
  "pid",
  "started_at",
  "completed_at",
  "exit_code",
  "log_path",
  "error",
  "result",
  "flags",
  "signal",
  "working_dir",
  "timeout_ms",
  "worker_pid",
  "worker_start_ticks",
  "argv",
  "supervised_at",
  "grace_ms",
  "cancel_requested_at",
  "retries",
  "retry_delay_ms",
  "after",
  "after_ok",
  "on_end",
  "log_max",
  "attempts",
  "progress",
  "paused_at",
  "supervisor_argv",
  "env",
  "name",
  "restart_of",
  "supervisor",
  "on_end_started_at",
];

/** A job with every field set. */
function fullJob(): Job {
  return {
    id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
    command: "pull",
    args: ["https://registry.example.com/acme/app"],
    flags: ["--env", "prod"],
    status: "failed",
    pid: 4321,
    startedAt: new Date("2024-01-01T12:00:00.123Z"),
    completedAt: new Date("2024-01-01T12:05:00.456Z"),
    exitCode: 2,
    signal: "SIGTERM",
    logPath: "/jobs/01ARYZ6S41TSV4RRFFQ69G5FAV.log",
    workingDir: "/work",
    timeout: 60_000,
    error: "boom",
    result: { bytes: 5, nested: { ok: true } },
    workerPid: 4322,
    workerStartTicks: 987654,
    argv: ["deno", "run", "-A", "x.ts"],
    supervisedAt: new Date("2024-01-01T12:00:00.200Z"),
    grace: 5_000,
    cancelRequestedAt: new Date("2024-01-01T12:04:59.000Z"),
    retries: 3,
    retryDelay: 2_000,
    after: ["01ARYZ6S41TSV4RRFFQ69G5FAA"],
    afterOk: true,
    onEnd: "echo done",
    logMax: 4096,
    attempts: [
      {
        startedAt: new Date("2024-01-01T12:00:00.300Z"),
        endedAt: new Date("2024-01-01T12:01:00.000Z"),
        exitCode: 3,
        error: "Exited with code 3",
      },
      {
        startedAt: new Date("2024-01-01T12:01:02.000Z"),
        endedAt: new Date("2024-01-01T12:05:00.400Z"),
        signal: "SIGTERM",
      },
      { startedAt: new Date("2024-01-01T12:05:01.000Z") },
    ],
    progress: {
      done: 118,
      total: 280,
      unit: "MiB",
      message: "Pulling",
      updatedAt: new Date("2024-01-01T12:04:58.000Z"),
    },
    pausedAt: new Date("2024-01-01T12:03:00.000Z"),
    supervisorArgv: ["deno", "run", "-A", "main.ts"],
    env: { PATH: "/usr/bin", TOKEN: "t" },
    name: "nightly-backup.v2",
    restartOf: "01ARYZ6S41TSV4RRFFQ69G5FAB",
    supervisor: "shim",
    onEndStartedAt: new Date("2024-01-01T12:05:00.500Z"),
    extra: { future_field: [1, { deep: null }], note: "kept" },
  };
}

Deno.test("toRecord() writes every field under its key, in epack's order, then unknown keys", () => {
  const record = toRecord(fullJob());
  assert.deepEqual(Object.keys(record), [...ORDER, "future_field", "note"]);
  assert.deepEqual(record, {
    id: "01ARYZ6S41TSV4RRFFQ69G5FAV",
    command: "pull",
    args: ["https://registry.example.com/acme/app"],
    status: "failed",
    pid: 4321,
    started_at: "2024-01-01T12:00:00.123Z",
    completed_at: "2024-01-01T12:05:00.456Z",
    exit_code: 2,
    log_path: "/jobs/01ARYZ6S41TSV4RRFFQ69G5FAV.log",
    error: "boom",
    result: { bytes: 5, nested: { ok: true } },
    flags: ["--env", "prod"],
    signal: "SIGTERM",
    working_dir: "/work",
    timeout_ms: 60_000,
    worker_pid: 4322,
    worker_start_ticks: 987654,
    argv: ["deno", "run", "-A", "x.ts"],
    supervised_at: "2024-01-01T12:00:00.200Z",
    grace_ms: 5_000,
    cancel_requested_at: "2024-01-01T12:04:59.000Z",
    retries: 3,
    retry_delay_ms: 2_000,
    after: ["01ARYZ6S41TSV4RRFFQ69G5FAA"],
    after_ok: true,
    on_end: "echo done",
    log_max: 4096,
    attempts: [
      {
        started_at: "2024-01-01T12:00:00.300Z",
        ended_at: "2024-01-01T12:01:00.000Z",
        exit_code: 3,
        error: "Exited with code 3",
      },
      {
        started_at: "2024-01-01T12:01:02.000Z",
        ended_at: "2024-01-01T12:05:00.400Z",
        signal: "SIGTERM",
      },
      { started_at: "2024-01-01T12:05:01.000Z" },
    ],
    progress: {
      done: 118,
      total: 280,
      unit: "MiB",
      message: "Pulling",
      updated_at: "2024-01-01T12:04:58.000Z",
    },
    paused_at: "2024-01-01T12:03:00.000Z",
    supervisor_argv: ["deno", "run", "-A", "main.ts"],
    env: { PATH: "/usr/bin", TOKEN: "t" },
    name: "nightly-backup.v2",
    restart_of: "01ARYZ6S41TSV4RRFFQ69G5FAB",
    supervisor: "shim",
    on_end_started_at: "2024-01-01T12:05:00.500Z",
    future_field: [1, { deep: null }],
    note: "kept",
  });
});

Deno.test("parseJobRecord() refuses attempts that are not a list of attempts, naming the bad one", () => {
  const base = {
    id: "job_1",
    command: "sync",
    status: "failed",
    started_at: "2024-01-01T12:00:00Z",
  };
  const parse = (attempts: unknown) =>
    parseJobRecord(JSON.stringify({ ...base, attempts }), "job_1", "x");
  const bad: [unknown, string][] = [
    [{}, '"attempts" is not a list'],
    [[1], '"attempts[0]" is not an object'],
    [[{}], 'missing "attempts[0].started_at"'],
    [
      [{ started_at: "2024-01-01T12:00:00Z" }, { started_at: "yesterday" }],
      '"attempts[1].started_at" is not an RFC 3339 time',
    ],
    [
      [{ started_at: "2024-01-01T12:00:00Z", exit_code: 1.5 }],
      '"attempts[0].exit_code" is not an integer',
    ],
    [
      [{ started_at: "2024-01-01T12:00:00Z", signal: 9 }],
      '"attempts[0].signal" is not a string',
    ],
    [
      Array(MAX_RETRIES + 2).fill({ started_at: "2024-01-01T12:00:00Z" }),
      `"attempts" holds ${MAX_RETRIES + 2} attempts (at most ${
        MAX_RETRIES + 1
      })`,
    ],
  ];
  for (const [value, reason] of bad) {
    assert.throws(
      () => parse(value),
      (err: unknown) =>
        err instanceof InvalidJobFileError && err.reason === reason,
      reason,
    );
  }
  // Null is absent (Go's nil slice); a key an attempt does not know is
  // dropped, not refused, so a newer writer's records stay readable.
  assert.equal(parse(null).attempts, undefined);
  assert.deepEqual(
    parse([{ started_at: "2024-01-01T12:00:00Z", cpu_ms: 5 }]).attempts,
    [{ startedAt: new Date("2024-01-01T12:00:00Z") }],
  );
});

Deno.test("KNOWN_KEYS are exactly the keys the table writes", () => {
  assert.deepEqual([...KNOWN_KEYS], ORDER);
});

Deno.test("parseJobRecord() gives back every field toRecord() wrote", () => {
  const job = fullJob();
  const text = JSON.stringify(toRecord(job), null, 2);
  assert.deepEqual(parseJobRecord(text, job.id, "x.json"), job);
  // And a minimal job: absent optional fields stay absent.
  const minimal: Job = {
    id: "job_1",
    command: "sync",
    args: [],
    flags: [],
    status: "running",
    pid: 0,
    startedAt: new Date(0),
    logPath: "",
  };
  const raw = toRecord(minimal);
  assert.deepEqual(Object.keys(raw), [
    "id",
    "command",
    "args",
    "status",
    "pid",
    "started_at",
    "log_path",
    "flags",
  ]);
  assert.deepEqual(parseJobRecord(JSON.stringify(raw), "job_1", "x"), minimal);
});

Deno.test("toRecord() leaves out an empty error (epack's omitempty) and unknown keys that shadow known ones", () => {
  const job = fullJob();
  job.error = "";
  job.extra = { status: "zombie", pid: "x", other: 1 };
  const record = toRecord(job);
  assert.equal("error" in record, false);
  assert.equal(record.status, "failed");
  assert.equal(record.pid, 4321);
  assert.equal(record.other, 1);
});

Deno.test("parseJobRecord() reads Go's null and absent values as Go's zero values", () => {
  const text = JSON.stringify({
    id: "job_1",
    command: "pull",
    args: null,
    flags: null,
    argv: null,
    status: "running",
    started_at: "2024-01-01T12:00:00Z",
    result: null,
    exit_code: null,
  });
  const job = parseJobRecord(text, "job_1", "x");
  assert.deepEqual(job, {
    id: "job_1",
    command: "pull",
    args: [],
    flags: [],
    argv: [],
    status: "running",
    pid: 0,
    startedAt: new Date("2024-01-01T12:00:00Z"),
    logPath: "",
  });
});

Deno.test("epack's testdata records survive a parse and rewrite with their keys and values", async () => {
  for (const name of ["epack_completed.json", "epack_failed.json"]) {
    const text = await Deno.readTextFile(new URL(name, TESTDATA));
    const original = JSON.parse(text);
    const job = parseJobRecord(text, original.id, name);
    const rewritten = toRecord(job);
    assertEpackShape(rewritten);
    // epack's keys come first, in epack's order.
    assert.deepEqual(
      Object.keys(rewritten).slice(0, 6),
      ORDER.slice(0, 6),
      name,
    );
    for (const [key, value] of Object.entries(original)) {
      if (key.endsWith("_at")) {
        // The instant survives, to the millisecond (JavaScript's resolution).
        assert.equal(
          Date.parse(rewritten[key] as string),
          Math.floor(Date.parse(value as string)),
          `${name}: ${key}`,
        );
      } else if (key === "args" && value === null) {
        assert.deepEqual(rewritten.args, [], name);
      } else {
        assert.deepEqual(rewritten[key], value, `${name}: ${key}`);
      }
    }
    // Rewriting what was rewritten changes nothing.
    assert.deepEqual(
      toRecord(parseJobRecord(JSON.stringify(rewritten), job.id, name)),
      rewritten,
    );
  }
});

// ---------------------------------------------------------------------------
// The writer refuses what the reader would refuse

// JSON values of every type, with the edge of each: fed to every key of the
// table, whichever the parser refuses must be refused by the writer.
const JSON_POOL: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  1e21,
  "",
  "x",
  "paused",
  "2024-01-01T12:00:00Z",
  "2024-13-45T99:00:00Z",
  [],
  ["a"],
  [1],
  {},
  { a: 1 },
];

// Values JSON cannot hold, or holds as something else: the writer must
// refuse each, or write it so that it reads back.
const JS_POOL: unknown[] = [
  undefined,
  NaN,
  Infinity,
  -Infinity,
  Number.MAX_VALUE,
  1500.5,
  -0.5,
  2 ** 53,
  new Date(NaN),
  new Date(8.64e15), // year 275760: not RFC 3339's four digits
  new Date(Date.UTC(10000, 0, 1)),
  new Date(-1e14), // a year before 0
  new Date(0),
  10n,
  { big: 10n },
  new Date(1),
  ["a", 1],
  () => 1,
];

function refusedByParser(
  valid: Record<string, unknown>,
  key: string,
  value: unknown,
): boolean {
  try {
    parseJobRecord(JSON.stringify({ ...valid, [key]: value }), "job_1", "x");
    return false;
  } catch (err) {
    if (err instanceof InvalidJobFileError) return true;
    throw err;
  }
}

function describeValue(value: unknown): string {
  if (typeof value === "bigint") return `${value}n`;
  if (value instanceof Date) return `Date(${value.getTime()})`;
  if (typeof value === "function") return "a function";
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** A TypeError or RangeError naming the field's key. */
function namesKey(key: string) {
  return (err: unknown) => {
    assert.ok(
      err instanceof TypeError || err instanceof RangeError,
      `not a TypeError or RangeError: ${err}`,
    );
    assert.match((err as Error).message, new RegExp(`"${key}"`));
    return true;
  };
}

Deno.test("JobStore.update() refuses every value of every field that the parser refuses, leaving the file as it was", async (t) => {
  await withStore(async (store) => {
    const job = await store.create({ command: "sync", id: "job_1" });
    const path = store.recordPath(job.id);
    const valid = toRecord(await store.loadRecorded(job.id));
    let refusals = 0;
    for (const [name, key] of FIELD_KEYS) {
      for (const value of JSON_POOL) {
        if (!refusedByParser(valid, key, value)) continue;
        if (
          name === "id" && value !== null &&
          (typeof value !== "string" || !isJobId(value))
        ) {
          // Not an ID at all: create() is where an ID enters.
          refusals++;
          await t.step(
            `create() with id = ${describeValue(value)}`,
            () =>
              assert.rejects(
                () => store.create({ command: "sync", id: value as string }),
                InvalidJobIdError,
              ),
          );
          continue;
        }
        refusals++;
        await t.step(`${key} = ${describeValue(value)}`, async () => {
          const before = await Deno.readFile(path);
          if (name === "id") {
            // The parser refuses any ID but the file's own, and update()
            // keeps it: the record still reads back, as the same job.
            const after = await store.update(
              job.id,
              (j) => ({ ...j, id: value as string }),
            );
            assert.equal(after.id, job.id);
            assert.equal((await store.loadRecorded(job.id)).id, job.id);
            return;
          } else {
            await assert.rejects(
              () => store.update(job.id, (j) => ({ ...j, [name]: value })),
              namesKey(key),
            );
          }
          assert.deepEqual(await Deno.readFile(path), before, "file changed");
        });
      }
    }
    // Every field is refused something: the loop really covered the table.
    assert.ok(refusals >= FIELD_KEYS.length, `${refusals} refusals`);
    await t.step("the jobs dir holds only the job's own files", () => {
      const names = [...Deno.readDirSync(store.dir)].map((e) => e.name);
      assert.deepEqual(names.sort(), [
        "job_1.json",
        "job_1.live",
        "job_1.lock",
        "job_1.log",
      ]);
    });
  });
});

Deno.test("JobStore.update() writes only records that read back: values JSON cannot hold are refused", async (t) => {
  await withStore(async (store) => {
    const job = await store.create({ command: "sync", id: "job_1" });
    const path = store.recordPath(job.id);
    for (const [name, key] of FIELD_KEYS) {
      if (name === "id") continue; // update() keeps the ID
      for (const value of JS_POOL) {
        await t.step(`${key} = ${describeValue(value)}`, async () => {
          const before = await Deno.readFile(path);
          let written: Job | undefined;
          try {
            written = await store.update(
              job.id,
              (j) => ({ ...j, [name]: value }),
            );
          } catch (err) {
            namesKey(key)(err);
            assert.deepEqual(await Deno.readFile(path), before);
            return;
          }
          // Accepted: it must read back, and as what was given (or, for a
          // field Go writes with a zero value, as that zero).
          const read = await store.loadRecorded(job.id);
          const got = (read as unknown as Record<string, unknown>)[name];
          const gave = (written as unknown as Record<string, unknown>)[name];
          if (gave !== undefined && got !== undefined) {
            assert.deepEqual(got, gave, `${key} read back differently`);
          }
        });
      }
    }
  });
});

Deno.test("JobStore.create() refuses what the record cannot hold before it makes any file", async (t) => {
  await withStore(async (store) => {
    const options = [
      "command",
      "args",
      "flags",
      "pid",
      "workingDir",
      "timeout",
      "argv",
      "grace",
    ];
    let n = 0;
    for (const option of options) {
      for (const value of [...JSON_POOL, ...JS_POOL]) {
        if (value === undefined) continue;
        const id = `job_${n++}`;
        await t.step(`${option} = ${describeValue(value)}`, async () => {
          const before = listDir(store.dir);
          let job: Job;
          try {
            job = await store.create({ command: "sync", id, [option]: value });
          } catch (err) {
            assert.ok(
              err instanceof TypeError || err instanceof RangeError,
              `${err}`,
            );
            assert.deepEqual(listDir(store.dir), before, "files were made");
            return;
          }
          // Accepted: it reads back.
          assert.equal((await store.loadRecorded(job.id)).id, id);
        });
      }
    }
  });
});

Deno.test("JobStore.create() checks durations against MAX_DURATION: whole milliseconds, 0 to 36500 days", async () => {
  await withStore(async (store) => {
    for (
      const value of [1500.5, 0.5, -1, 36_500 * 86_400_000 + 1, 1e300]
    ) {
      for (const option of ["timeout", "grace"]) {
        await assert.rejects(
          () => store.create({ command: "sync", [option]: value }),
          RangeError,
          `Invalid ${option}`,
        );
      }
    }
    const job = await store.create({
      command: "sync",
      timeout: 36_500 * 86_400_000,
      grace: 0,
    });
    assert.equal((await store.load(job.id)).timeout, 36_500 * 86_400_000);
    assert.deepEqual(listDir(store.dir).filter((n) => n.endsWith(".json")), [
      `${job.id}.json`,
    ]);
  });
});

Deno.test("serializeJobRecord() refuses a result that JSON turns into something else", () => {
  const job: Job = {
    id: "job_1",
    command: "sync",
    args: [],
    flags: [],
    status: "running",
    pid: 0,
    startedAt: new Date(0),
    logPath: "",
  };
  assert.throws(
    () => serializeJobRecord({ ...job, result: new Date(0) as never }),
    TypeError,
    '"result" is not an object',
  );
  assert.throws(
    () => serializeJobRecord({ ...job, extra: { note: 1n } }),
    TypeError,
    '"note" cannot be written as JSON',
  );
  assert.equal(
    serializeJobRecord(job),
    JSON.stringify(toRecord(job), null, 2) + "\n",
  );
});

function listDir(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

Deno.test("the progress field refuses what a report would refuse", async (t) => {
  const base = {
    id: "job_1",
    command: "sync",
    status: "running",
    started_at: "2024-01-01T00:00:00Z",
  };
  const read = (progress: unknown) =>
    parseJobRecord(JSON.stringify({ ...base, progress }), "job_1", "x.json");
  await t.step("a valid one, with only what is required", () => {
    const job = read({ done: 0, updated_at: "2024-01-01T00:00:01Z" });
    assert.deepEqual(job.progress, {
      done: 0,
      updatedAt: new Date("2024-01-01T00:00:01Z"),
    });
    assert.equal(read(null).progress, undefined);
  });
  const bad: [unknown, RegExp][] = [
    ["42", /"progress": progress is not an object/],
    [[1], /progress is not an object/],
    [{ updated_at: "2024-01-01T00:00:01Z" }, /"done" is not a number/],
    [{ done: -1, updated_at: "2024-01-01T00:00:01Z" }, /0 or more/],
    [{ done: 3, total: 2, updated_at: "2024-01-01T00:00:01Z" }, /more than/],
    [{ done: 1, unit: 7, updated_at: "2024-01-01T00:00:01Z" }, /"unit"/],
    [
      { done: 1, message: "\u001b[2J", updated_at: "2024-01-01T00:00:01Z" },
      /control character/,
    ],
    [{ done: 1 }, /missing "updated_at"/],
    [{ done: 1, updated_at: "yesterday" }, /"updated_at" is not an RFC 3339/],
  ];
  for (const [value, pattern] of bad) {
    await t.step(JSON.stringify(value), () => {
      assert.throws(
        () => read(value),
        (err: Error) =>
          err instanceof InvalidJobFileError &&
          pattern.test(err.message),
      );
    });
  }
});

Deno.test("a result nested deeper than reportResult() allows is refused on read and on write", () => {
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 150; i++) deep = { d: deep };
  const text = JSON.stringify({
    id: "job_1",
    command: "sync",
    status: "completed",
    started_at: "2024-01-01T12:00:00Z",
    result: deep,
  });
  assert.throws(
    () => parseJobRecord(text, "job_1", "job_1.json"),
    (err: unknown) =>
      err instanceof InvalidJobFileError && /levels deep/.test(err.reason),
  );
  const job = parseJobRecord(
    text.replace(JSON.stringify(deep), '{"ok":{"nested":[1]}}'),
    "job_1",
    "job_1.json",
  );
  assert.deepEqual(job.result, { ok: { nested: [1] } });
  assert.throws(
    () => serializeJobRecord({ ...job, result: deep }),
    RangeError,
  );
});
