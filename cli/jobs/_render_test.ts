// How a job's progress and result read in `jobs` and `jobs <id>`.

import assert from "node:assert/strict";
import type { Job } from "../../store/job.ts";
import { matchJobId, newJobId } from "../../store/job_id.ts";
import {
  formatProgress,
  humanBytes,
  renderDetails,
  renderResult,
  renderTable,
  shortIds,
} from "./_render.ts";

Deno.test("formatProgress() shows a percentage with a total, a count without", () => {
  const cases: [Parameters<typeof formatProgress>[0], string][] = [
    [{ done: 118 << 20, total: 280 << 20, unit: "B" }, "42% 118 MiB/280 MiB"],
    [{ done: 1200, unit: "files" }, "1200 files"],
    [{ done: 3, total: 10, unit: "files" }, "30% 3/10 files"],
    [{ done: 0, total: 0 }, "100% 0/0"],
    [{ done: 999, total: 1000 }, "99% 999/1000"],
    [{ done: 2.5, total: 10, unit: "GB" }, "25% 2.5/10 GB"],
    [{ done: 512, unit: "B" }, "512 B"],
    [{ done: 3.4 * 1024, unit: "B" }, "3.4 KiB"],
  ];
  for (const [p, text] of cases) assert.equal(formatProgress(p), text);
});

Deno.test("humanBytes() uses binary units, one decimal below 10", () => {
  assert.equal(humanBytes(0), "0 B");
  assert.equal(humanBytes(1023), "1023 B");
  assert.equal(humanBytes(1024), "1.0 KiB");
  assert.equal(humanBytes(50_000), "49 KiB");
  assert.equal(humanBytes(5 * 2 ** 40), "5.0 TiB");
});

Deno.test("renderResult() is one line when short, indented when long, escaped", () => {
  assert.equal(renderResult({ ok: true }), '{"ok":true}');
  const long = renderResult({ path: "p".repeat(80), n: 1 });
  assert.equal(long.split("\n").length, 4);
  // JSON escapes C0 controls itself; C1 ones reach the text and are escaped.
  assert.equal(renderResult({ t: "a\u009bb" }), '{"t":"a\\x9bb"}');
});

/** A job for the table, ended `ago` ms before NOW unless it runs. */
function tableJob(fields: Partial<Job>): Job {
  return {
    id: newJobId(),
    command: "sh",
    args: ["-c", "rsync -a --delete /srv/data/ backup.example.com:/data/"],
    flags: [],
    status: "running",
    pid: 10,
    startedAt: new Date(NOW - 90 * 60_000),
    logPath: "/j/x.log",
    ...fields,
  };
}

const NOW = Date.parse("2026-11-24T12:00:00Z");

Deno.test("the default table fits an 80-column terminal, with IDs that still name their job", () => {
  const jobs = [
    tableJob({ name: "nightly-backup-of-everything-we-have" }),
    tableJob({
      status: "failed",
      signal: "SIGKILL",
      completedAt: new Date(NOW),
    }),
    tableJob({ status: "failed", exitCode: 127, completedAt: new Date(NOW) }),
    tableJob({ status: "timed_out", signal: "SIGTERM" }),
    tableJob({ status: "lost", workerPid: 99 }),
    tableJob({ status: "waiting", after: ["x"] }),
    tableJob({
      status: "paused",
      progress: { done: 1, total: 3, updatedAt: new Date(NOW) },
    }),
  ];
  const live = new Map([[jobs[4].id, [99, 100]]]);
  const text = renderTable(jobs, { now: NOW, color: false, width: 80, live });
  const lines = text.trimEnd().split("\n");
  assert.equal(lines.length, jobs.length + 1);
  for (const line of lines) {
    assert.ok(line.length <= 80, `${line.length}: ${line}`);
  }
  assert.match(
    lines[0],
    /^ID +NAME +STATUS +STARTED +DURATION +PROGRESS +COMMAND$/,
  );
  assert.match(lines[2], / failed \(SIGKILL\) /);
  assert.match(lines[3], / failed \(127\) /);
  assert.match(lines[4], / timed out /);
  assert.match(lines[5], / lost \(2 running\) /);
  assert.match(lines[1], / 1h ago +1h30m /);
  const ids = jobs.map((j) => j.id);
  for (const [i, line] of lines.slice(1).entries()) {
    const shown = line.split(" ")[0];
    assert.ok(shown.length >= 8 && shown.length < 26, shown);
    assert.equal(matchJobId(shown, ids), ids[i]);
  }
  // In a pipe, IDs stay whole.
  const piped = renderTable(jobs, { now: NOW, color: false, live });
  assert.ok(piped.split("\n")[1].startsWith(`${jobs[0].id} `));
});

Deno.test("shortIds() lengthens an end that another ID shares, starts, or a name is", () => {
  const job = (id: string, name?: string) => tableJob({ id, name });
  const short = shortIds([
    job("01AAAAAAAAAAAAAAAAXYZ12345"),
    job("01BBBBBBBBBBBBBBBBXYZ12345"),
    job("01CCCCCCCCCCCCCCCCCCCCCCCC", "BBXYZ12345"),
    job("ZZZZZZZZ01DDDDDDDDDDDDDDDD"),
    job("01EEEEEEEEEEEEEEEEZZZZZZZZ"),
  ]);
  // Eight at least; more where the ends are shared.
  assert.equal(short.get("01AAAAAAAAAAAAAAAAXYZ12345"), "AXYZ12345");
  // "BXYZ12345" would do, "BBXYZ12345" is a name: one more.
  assert.equal(short.get("01BBBBBBBBBBBBBBBBXYZ12345"), "BXYZ12345");
  assert.equal(short.get("01CCCCCCCCCCCCCCCCCCCCCCCC"), "CCCCCCCC");
  // "ZZZZZZZZ" starts another ID: it would name that one.
  assert.equal(short.get("01EEEEEEEEEEEEEEEEZZZZZZZZ"), "EZZZZZZZZ");
});

Deno.test("a running job past its timeout, or whose supervisor is stopped, says so", () => {
  const overdue = tableJob({ timeout: 60_000 });
  const stopped = tableJob({ timeout: 0 });
  const fine = tableJob({ timeout: 0 });
  const table = renderTable([overdue, stopped, fine], {
    now: NOW,
    color: false,
    stopped: new Set([stopped.id]),
  }).split("\n");
  assert.match(table[1], / running \(overdue\) /);
  assert.match(table[2], / running \(supervisor stopped\) /);
  assert.match(table[3], / running {2}/);
  const paused = tableJob({ status: "paused", timeout: 60_000 });
  assert.match(
    renderTable([paused], {
      now: NOW,
      color: false,
      stopped: new Set([paused.id]),
    }),
    / paused \(supervisor stopped\) /,
  );
  const details = (job: Job, stopped = false) =>
    renderDetails(job, { now: NOW, color: false, stopped });
  assert.match(
    details(overdue),
    /Status: +running \(past its timeout of 1m: it is being stopped\)\n/,
  );
  assert.match(
    details(overdue, true),
    /Status: +running \(past its timeout of 1m; its supervisor is stopped \(SIGSTOP\): it stops nothing until continued\)\n/,
  );
});

Deno.test("a job that never ran shows no start and no duration", () => {
  // Cancelled while waiting: no supervisor, no worker ever ran it.
  const never = tableJob({
    status: "cancelled",
    pid: 0,
    completedAt: new Date(NOW),
    error: "Cancelled while waiting: it never started",
  });
  const row = renderTable([never], { now: NOW, color: false }).split("\n")[1];
  assert.match(row, / cancelled +- +- +sh /);
  const text = renderDetails(never, { now: NOW, color: false });
  assert.match(text, /Created: /);
  assert.match(text, /Duration: +none: it never ran\n/);
  assert.doesNotMatch(text, /Started:/);
  // A record of epack's, with no worker PID, ran.
  const epack = tableJob({ status: "completed", completedAt: new Date(NOW) });
  assert.match(
    renderTable([epack], { now: NOW, color: false }).split("\n")[1],
    / completed +1h ago +1h30m /,
  );
});
