// Specification of the job record (_record.ts): epack's on-disk format, read
// and written through the store on real files, and the codec's table.

import assert from "node:assert/strict";
import {
  FINAL_STATUSES,
  type Job,
  JOB_STATUSES,
  KNOWN_KEYS,
  parseJobRecord,
  toRecord,
} from "./_record.ts";
import { epackRecord, readRaw, withStore } from "./testdata/store_helpers.ts";

const TESTDATA = new URL("./testdata/", import.meta.url);

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
      await store.complete(running.id, {
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
      await store.fail(j.id, "boom");
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
    await store.complete("job_x", { exitCode: 0 });
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
    JOB_STATUSES.filter((s) => s !== "running"),
    [...FINAL_STATUSES],
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
    future_field: [1, { deep: null }],
    note: "kept",
  });
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
