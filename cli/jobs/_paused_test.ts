// Tests of the "Paused" line of `jobs <id>`.

import assert from "node:assert/strict";
import type { Job } from "../../jobs.ts";
import { localTime } from "../_output.ts";
import { pausedDetail } from "./_render.ts";

const NOW = Date.parse("2026-11-24T12:00:00Z");

function job(fields: Partial<Job>): Job {
  return {
    id: "01JD0Q2V3K5W8Y9Z0A1B2C3D4E",
    command: "sync",
    args: [],
    flags: [],
    status: "paused",
    pid: 10,
    startedAt: new Date(NOW - 10 * 60_000),
    supervisedAt: new Date(NOW - 10 * 60_000),
    logPath: "/j/x.log",
    ...fields,
  };
}

Deno.test("pausedDetail() says since when, and how much of the timeout is left", () => {
  const pausedAt = new Date(NOW - 3 * 60_000);
  assert.equal(
    pausedDetail(job({ pausedAt, timeout: 33 * 60_000 }), NOW),
    `since ${
      localTime(pausedAt)
    } (3m ago); its timeout keeps counting: 23m left`,
  );
});

Deno.test("pausedDetail() counts the timeout from the supervisor's start, pauses included", () => {
  const pausedAt = new Date(NOW - 60_000);
  // Started 10 minutes ago with a 10m30s timeout: 30 s are left, paused or not.
  assert.match(
    pausedDetail(job({ pausedAt, timeout: 630_000 }), NOW)!,
    /; its timeout keeps counting: 30s left$/,
  );
  assert.match(
    pausedDetail(job({ pausedAt, timeout: 5 * 60_000 }), NOW)!,
    /; its timeout has passed: it is being stopped$/,
  );
  assert.match(
    pausedDetail(job({ pausedAt }), NOW)!,
    /; it has no timeout$/,
  );
  assert.match(
    pausedDetail(job({ pausedAt, timeout: 0 }), NOW)!,
    /; it has no timeout$/,
  );
});

Deno.test("pausedDetail() is undefined for a job that is not paused, and copes with a missing pausedAt", () => {
  for (const status of ["running", "completed", "queued"] as const) {
    assert.equal(pausedDetail(job({ status }), NOW), undefined);
  }
  assert.equal(
    pausedDetail(job({ timeout: 3_600_000 }), NOW),
    "since a time not recorded; its timeout keeps counting: 50m left",
  );
});
