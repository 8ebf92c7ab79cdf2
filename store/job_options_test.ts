import assert from "node:assert/strict";
import {
  checkAfter,
  checkHook,
  checkJobControl,
  checkLogMax,
  checkRetries,
  LOG_MAX_MIN,
  MAX_AFTER,
  MAX_HOOK_LENGTH,
  MAX_RETRIES,
  parseSize,
  retryPause,
} from "./job_options.ts";
import { MAX_DURATION } from "../duration.ts";
import { withStore } from "../testdata/store_helpers.ts";

Deno.test("checkRetries() takes whole numbers from 0 to MAX_RETRIES only", () => {
  for (const n of [0, 1, 7, MAX_RETRIES]) assert.equal(checkRetries(n), n);
  for (const n of [-1, 0.5, MAX_RETRIES + 1, NaN, Infinity, -0.1]) {
    assert.throws(() => checkRetries(n), RangeError, String(n));
  }
  assert.throws(() => checkRetries("3" as unknown as number), RangeError);
});

Deno.test("checkAfter() takes job IDs, drops repeats, and bounds the list", () => {
  const a = "01ARYZ6S41TSV4RRFFQ69G5FAV";
  const b = "01ARYZ6S41TSV4RRFFQ69G5FAW";
  assert.deepEqual(checkAfter([a, b, a]), [a, b]);
  assert.deepEqual(checkAfter([]), []);
  for (const bad of ["", "../x", "a/b", "x y", "\u0000"]) {
    assert.throws(() => checkAfter([bad]), TypeError, JSON.stringify(bad));
  }
  assert.throws(() => checkAfter("abc" as unknown as string[]), TypeError);
  const many = Array.from({ length: MAX_AFTER + 1 }, (_, i) => `job_${i}`);
  assert.throws(() => checkAfter(many), RangeError);
  assert.equal(checkAfter(many.slice(1)).length, MAX_AFTER);
});

Deno.test("checkHook() refuses empty, NUL and huge commands", () => {
  assert.equal(checkHook("echo $EPACK_JOB_ID"), "echo $EPACK_JOB_ID");
  assert.throws(() => checkHook(""), TypeError);
  assert.throws(() => checkHook("   \n"), TypeError);
  assert.throws(() => checkHook("echo a\0b"), TypeError);
  assert.throws(() => checkHook("x".repeat(MAX_HOOK_LENGTH + 1)), RangeError);
});

Deno.test("parseSize() reads bytes with decimal and binary units, and refuses the rest", () => {
  const cases: [string, number][] = [
    ["4096", 4096],
    ["4096B", 4096],
    ["4KiB", 4096],
    ["64KiB", 64 * 1024],
    ["64k", 64 * 1024],
    ["10MB", 10_000_000],
    ["10 MiB", 10 * 1024 * 1024],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["2G", 2 * 1024 ** 3],
    ["1tib", 1024 ** 4],
  ];
  for (const [text, bytes] of cases) assert.equal(parseSize(text), bytes, text);
  for (
    const bad of [
      "",
      "0",
      "0KiB",
      "-1",
      "1.5",
      "1.5B",
      "512",
      "4095B",
      "1e3",
      "ten",
      "10 PB",
      "10XB",
      "0x10",
      "99999999999999999999",
    ]
  ) {
    assert.throws(() => parseSize(bad), RangeError, JSON.stringify(bad));
  }
});

Deno.test("checkLogMax() takes whole, safe byte counts from 4 KiB", () => {
  assert.equal(checkLogMax(LOG_MAX_MIN), 4096);
  assert.equal(checkLogMax(Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
  for (
    const bad of [0, -1, 1, LOG_MAX_MIN - 1, 4096.5, NaN, Infinity, 2 ** 53]
  ) {
    assert.throws(() => checkLogMax(bad), RangeError, String(bad));
  }
});

Deno.test("checkJobControl() keeps what is set, and afterOk needs after", () => {
  assert.deepEqual(checkJobControl({}), {});
  assert.deepEqual(
    checkJobControl({
      retries: 2,
      retryDelay: 500,
      after: ["job_1", "job_1"],
      afterOk: true,
      onEnd: "true",
      logMax: 8192,
    }),
    {
      retries: 2,
      retryDelay: 500,
      after: ["job_1"],
      afterOk: true,
      onEnd: "true",
      logMax: 8192,
    },
  );
  assert.deepEqual(checkJobControl({ after: [], afterOk: false }), {});
  assert.throws(() => checkJobControl({ afterOk: true }), TypeError, "after");
  assert.throws(() => checkJobControl({ retryDelay: -1 }), RangeError);
  assert.throws(
    () => checkJobControl({ retryDelay: MAX_DURATION + 1 }),
    RangeError,
  );
});

Deno.test("retryPause() doubles from the first delay, caps at an hour, and jitters down by at most 20 %", () => {
  assert.equal(retryPause(1000, 1, 0), 1000);
  assert.equal(retryPause(1000, 2, 0), 2000);
  assert.equal(retryPause(1000, 4, 0), 8000);
  assert.equal(retryPause(1000, 40, 0), 3_600_000);
  assert.equal(retryPause(1000, 1_000_000, 0), 3_600_000);
  // A first delay longer than the cap is kept, never cut.
  assert.equal(retryPause(7_200_000, 3, 0), 7_200_000);
  assert.equal(retryPause(MAX_DURATION, 5, 0), MAX_DURATION);
  assert.equal(retryPause(0, 10, 0.5), 0);
  for (let i = 0; i < 100; i++) {
    const p = retryPause(1000, 3);
    assert.ok(p > 3200 - 1 && p <= 4000, String(p));
    assert.ok(Number.isInteger(p));
  }
});

Deno.test("the store refuses job-control values out of range before writing anything", async () => {
  await withStore(async (store) => {
    const bad = [
      { retries: -1 },
      { retries: 1.5 },
      { retryDelay: -5 },
      { after: ["../etc"] },
      { afterOk: true },
      { onEnd: "" },
      { logMax: 0 },
      { logMax: 4095 },
    ];
    for (const options of bad) {
      await assert.rejects(
        () => store.create({ command: "x", ...options }),
        (err: unknown) => err instanceof RangeError || err instanceof TypeError,
        JSON.stringify(options),
      );
    }
    // Refused before the jobs directory was even made.
    assert.throws(() => Deno.statSync(store.dir), Deno.errors.NotFound);
    const job = await store.create({
      command: "x",
      retries: 1,
      after: ["job_9"],
      afterOk: true,
      onEnd: "true",
      logMax: 4096,
    });
    const back = await store.loadRecorded(job.id);
    assert.equal(back.retries, 1);
    assert.deepEqual(back.after, ["job_9"]);
    assert.equal(back.afterOk, true);
    assert.equal(back.onEnd, "true");
    assert.equal(back.logMax, 4096);
  });
});
