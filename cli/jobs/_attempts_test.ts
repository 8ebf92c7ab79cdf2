// Tests of the attempts' lines in `jobs <id>`: a pure renderer, fed records.

import assert from "node:assert/strict";
import type { Job } from "../../jobs.ts";
import { localTime } from "../_output.ts";
import { attemptLines } from "./_attempts.ts";

const T0 = new Date("2024-01-01T12:00:00Z").getTime();

function job(fields: Partial<Job>): Job {
  return {
    id: "job_1",
    command: "sh",
    args: [],
    flags: [],
    status: "running",
    pid: 1,
    startedAt: new Date(T0),
    logPath: "/jobs/job_1.log",
    ...fields,
  };
}

Deno.test("attemptLines() says when an attempt's end was never seen", () => {
  const lines = attemptLines(
    job({
      status: "lost",
      retries: 1,
      attempts: [{ startedAt: new Date(T0) }],
    }),
    T0,
  );
  assert.match(lines[1], /^ {2}1 {2}end not seen {4}started /);
});

Deno.test("attemptLines() shows nothing for a job without retries", () => {
  assert.deepEqual(attemptLines(job({}), T0), []);
  assert.deepEqual(attemptLines(job({ retries: 0 }), T0), []);
});

Deno.test("attemptLines() shows the policy, then each attempt: how it ended, how long it ran, when it started", () => {
  const at = (s: number) => new Date(T0 + s * 1000);
  const lines = attemptLines(
    job({
      retries: 3,
      retryDelay: 2_000,
      attempts: [
        {
          startedAt: at(0),
          endedAt: at(1.5),
          exitCode: 3,
          error: "Exited with code 3",
        },
        {
          startedAt: at(4),
          endedAt: at(4.25),
          signal: "SIGKILL",
          error: "Killed by SIGKILL",
        },
        { startedAt: at(9) },
      ],
    }),
    T0 + 49_000,
  );
  const started = (s: number, ago: string) =>
    `started ${localTime(at(s))} (${ago})`;
  assert.deepEqual(
    lines,
    [
      "Attempts: 3 of 4 (retry delay 2s, doubling)",
      `  1  exit code 3        ran 1.5s   ${
        started(0, "49s ago")
      }  Exited with code 3`,
      `  2  killed by SIGKILL  ran 250ms  ${
        started(4, "45s ago")
      }  Killed by SIGKILL`,
      `  3  running            for 40s    ${started(9, "40s ago")}`,
    ].map((l) => l),
  );
});

Deno.test("attemptLines() shows the first and last five of many attempts", () => {
  const at = new Date("2024-01-01T12:00:00Z");
  const attempts = Array.from({ length: 1001 }, (_, i) => ({
    startedAt: new Date(at.getTime() + i * 1000),
    endedAt: new Date(at.getTime() + i * 1000 + 10),
    exitCode: i,
  }));
  const job = {
    id: "job_1",
    command: "x",
    args: [],
    flags: [],
    status: "failed",
    pid: 1,
    startedAt: at,
    logPath: "/x.log",
    retries: 1000,
    attempts,
  } as Job;
  const lines = attemptLines(job, at.getTime() + 2_000_000);
  assert.equal(lines.length, 1 + 5 + 1 + 5);
  assert.match(lines[0], /^Attempts: 1001 of 1001/);
  assert.match(lines[1], /^ {2}1 +exit code 0 /);
  assert.match(lines[6], /\.\.\. 991 more/);
  assert.match(lines[11], /^ {2}1001 +exit code 1000 /);
});
