// Specification of the duration format used by --timeout, --grace and
// --older-than: Go's style plus days.

import assert from "node:assert/strict";
import {
  checkDuration,
  formatDuration,
  MAX_DURATION,
  parseDuration,
} from "./duration.ts";

const S = 1000;
const M = 60 * S;
const H = 60 * M;
const D = 24 * H;

Deno.test("parseDuration() reads Go-style durations and days", async (t) => {
  const good: [string, number][] = [
    ["0", 0],
    ["0s", 0],
    ["500ms", 500],
    ["1ms", 1],
    ["90s", 90 * S],
    ["10m", 10 * M],
    ["24h", 24 * H],
    ["2d", 2 * D],
    ["1h30m", H + 30 * M],
    ["2m30s", 150 * S],
    ["1d2h3m4s5ms", D + 2 * H + 3 * M + 4 * S + 5],
    ["1.5h", 90 * M],
    [".5s", 500],
    ["0.25s", 250],
    // Units may repeat and need not be in order, as in Go.
    ["1s1s", 2 * S],
    ["30s1m", 90 * S],
    ["  24h\n", 24 * H],
    // Fractions of a millisecond round to a whole number.
    ["1.4ms", 1],
    ["1.6ms", 2],
  ];
  for (const [text, ms] of good) {
    await t.step(JSON.stringify(text), () => {
      assert.equal(parseDuration(text), ms);
    });
  }
});

Deno.test("parseDuration() rejects what is not a duration with a RangeError", async (t) => {
  const bad = [
    "",
    "   ",
    "10", // a number other than 0 needs a unit
    "00",
    "1",
    "s",
    "ms",
    "h1",
    "1x",
    "1 h",
    "1h 30m",
    "-5s",
    "+5s",
    "1.s",
    "1e3s",
    "1H",
    "1sec",
    "1w",
    "abc",
    "Infinity",
    "NaN",
    "5s!",
  ];
  for (const text of bad) {
    await t.step(JSON.stringify(text.slice(0, 20)), () => {
      assert.throws(() => parseDuration(text), (err: unknown) => {
        assert.ok(err instanceof RangeError);
        assert.equal(
          err.message,
          `Invalid duration: ${
            JSON.stringify(text)
          } (use a form like 90s, 1h30m or 500ms)`,
        );
        return true;
      });
    });
  }
});

Deno.test("formatDuration() uses at most the two largest units", async (t) => {
  const cases: [number, string][] = [
    [0, "0ms"],
    [1, "1ms"],
    [250, "250ms"],
    [999, "999ms"],
    [S, "1s"],
    [45 * S, "45s"],
    [90 * S, "1m30s"],
    [M, "1m"],
    [H, "1h"],
    [H + 30 * M, "1h30m"],
    [H + 30 * S, "1h"], // minutes are zero: "1h0m" reads worse than "1h"
    [H + M + S, "1h1m"], // seconds dropped: only two units
    [D, "1d"],
    [2 * D + 3 * H, "2d3h"],
    [D + 30 * S, "1d"],
    [1500, "1.5s"], // under a minute, fractions of a second are kept
    [1001, "1.001s"],
    [59_999, "59.999s"],
    [61_500, "1m1s"],
    [60_500, "1m"], // from a minute on, two whole units
    [-90 * S, "-1m30s"],
  ];
  for (const [ms, text] of cases) {
    await t.step(`${ms} → ${text}`, () => {
      assert.equal(formatDuration(ms), text);
    });
  }
  await t.step("non-finite numbers are printed as they are", () => {
    assert.equal(formatDuration(Infinity), "Infinity");
    assert.equal(formatDuration(NaN), "NaN");
  });
});

Deno.test("parseDuration() reads back what formatDuration() writes", () => {
  for (
    const ms of [
      0,
      1,
      999,
      S,
      1500,
      1001,
      59_999,
      59 * S,
      90 * S,
      H,
      25 * H,
      2 * D + 3 * H,
      7 * D,
    ]
  ) {
    assert.equal(parseDuration(formatDuration(ms)), ms, `${ms}`);
  }
});

Deno.test("every duration is held to the range a record can hold", async (t) => {
  await t.step("parseDuration() refuses what is longer than 36500d", () => {
    assert.equal(parseDuration("36500d"), MAX_DURATION);
    for (
      const text of [
        "36500d1ms",
        "36501d",
        "9007199254740993ms",
        "99999999999999999999999999h",
        `${"9".repeat(400)}d`, // overflows to Infinity
        "9".repeat(400) + "s",
      ]
    ) {
      assert.throws(() => parseDuration(text), {
        name: "RangeError",
        message: /^Duration too long: .*\(at most 36500d\)$/,
      }, text);
    }
  });
  await t.step("a duration that is not zero never rounds to zero", () => {
    for (const text of ["0.4ms", ".1ms", "0.0001s"]) {
      assert.throws(() => parseDuration(text), {
        name: "RangeError",
        message: /^Duration too short: .*0 means none\)$/,
      }, text);
    }
    assert.equal(parseDuration("0.5ms"), 1);
    assert.equal(parseDuration("0ms"), 0);
  });
  await t.step("checkDuration() takes whole milliseconds in range", () => {
    assert.equal(checkDuration("timeout", 0), 0);
    assert.equal(checkDuration("timeout", MAX_DURATION), MAX_DURATION);
    const bad: unknown[] = [
      1500.5,
      0.5,
      -1,
      Number.MAX_VALUE,
      Number.MAX_SAFE_INTEGER,
      MAX_DURATION + 1,
      Infinity,
      NaN,
      "100",
    ];
    for (const value of bad) {
      assert.throws(() => checkDuration("timeout", value as number), {
        name: "RangeError",
        message:
          /^Invalid timeout: .* \(a whole number of milliseconds from 0 to 3153600000000, which is 36500d\)$/,
      }, String(value));
    }
  });
});
