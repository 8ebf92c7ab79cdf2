// Tests of the ps inspector's parsing, on output recorded in the shape each
// family prints (procps on Linux, BSD ps on macOS, whose source sets the
// column widths and the "%c" start time), and of how it is run. The real
// procps is exercised by _process_test.ts and `deno task test:ps`.

import assert from "node:assert/strict";
import {
  findCarriers,
  parseLstart,
  parsePsArgs,
  parsePsInfo,
  psArgsArgs,
  psFlavour,
  psInfoArgs,
  PsInspector,
} from "./ps.ts";

// `ps -A -o pid= -o pgid= -o stat= -o lstart=` on macOS: pid and pgid
// right-aligned in 5 columns, stat left-aligned in 4, lstart left-aligned
// in 28 (so padded at the end), %e giving a space-padded day.
const BSD_INFO = [
  "    1     1 Ss   Mon Nov 24 09:12:01 2026    ",
  "  412   412 S    Mon Nov 24 09:12:05 2026    ",
  "  530   412 SN   Mon Nov 24 09:13:00 2026    ",
  "98765 98765 Z    Tue Nov  3 21:05:09 2026    ",
  "  777   777 U+   Mon Nov 24 09:14:59 2026    ",
  "",
].join("\n");

// The same under procps (`-o sid=` added): widths differ, fields do not.
const PROCPS_INFO = [
  "      1       1       1 Ss   Mon Nov 24 09:12:01 2026",
  "  12345   12345   12345 Ss   Mon Nov 24 09:12:05 2026",
  "  12346   12345   12345 Z    Mon Nov 24 09:12:06 2026",
  "      2       0       0 I    Mon Nov 24 09:12:01 2026",
  "",
].join("\n");

const MARK = "EPACK_DETACH_JOB_ID=01JD0Q2V3K5W8Y9Z0A1B2C3D4E";

Deno.test("parseLstart() reads the C locale's %c in UTC, with a padded day", () => {
  assert.equal(
    parseLstart("Mon Nov 24 09:12:01 2026"),
    Date.UTC(2026, 10, 24, 9, 12, 1) / 1000,
  );
  assert.equal(
    parseLstart("Tue Nov  3 21:05:09 2026    "),
    Date.UTC(2026, 10, 3, 21, 5, 9) / 1000,
  );
  assert.equal(parseLstart("Mon Foo 24 09:12:01 2026"), undefined);
  assert.equal(parseLstart("24 Nov 2026 09:12:01"), undefined);
});

Deno.test("parsePsInfo() reads BSD ps output: no session, state letter first", () => {
  const list = parsePsInfo(BSD_INFO, "bsd");
  assert.deepEqual(list.map((p) => [p.pid, p.pgid, p.state]), [
    [1, 1, "S"],
    [412, 412, "S"],
    [530, 412, "S"],
    [98765, 98765, "Z"],
    [777, 777, "U"],
  ]);
  assert.ok(list.every((p) => p.sid === undefined));
  assert.equal(list[3].startTime, Date.UTC(2026, 10, 3, 21, 5, 9) / 1000);
});

Deno.test("parsePsInfo() reads procps output, with the session", () => {
  const list = parsePsInfo(PROCPS_INFO, "procps");
  assert.deepEqual(list[2], {
    pid: 12346,
    pgid: 12345,
    sid: 12345,
    state: "Z",
    startTime: Date.UTC(2026, 10, 24, 9, 12, 6) / 1000,
  });
  assert.equal(list.length, 4);
  assert.deepEqual(parsePsInfo("garbage\n  12 x y\n", "procps"), []);
});

Deno.test("findCarriers() takes the environment from what -E adds after the arguments", () => {
  // `ps -ww -o pid= -o args=`, then with BSD's -E.
  const plain = parsePsArgs([
    "  501 /bin/sleep 300",
    `  502 grep ${MARK}`,
    "  503 /usr/sbin/other-users-daemon -f",
    "  504 sh -c echo hi",
    "",
  ].join("\n"));
  const withEnv = parsePsArgs([
    `  501 /bin/sleep 300 ${MARK} PATH=/usr/bin:/bin HOME=/Users/me`,
    `  502 grep ${MARK} PATH=/usr/bin:/bin`,
    "  503 /usr/sbin/other-users-daemon -f",
    `  504 sh -c echo hi ${MARK}x PATH=/usr/bin`,
    `  505 started-between-the-runs ${MARK}`,
    "",
  ].join("\n"));
  // 502 only spells the mark in its arguments; 504 has another job's; 505
  // was not in the first run.
  assert.deepEqual([...findCarriers(plain, withEnv, MARK)], [501]);
});

Deno.test("PsInspector asks each family in its own words, and says why it could not", () => {
  const calls: string[][] = [];
  const bsd = new PsInspector("bsd", (args) => {
    calls.push(args);
    if (args.includes("-E")) {
      return { ok: true, stdout: `  501 /bin/sleep 300 ${MARK} HOME=/x\n` };
    }
    if (args.includes("args=")) {
      return { ok: true, stdout: "  501 /bin/sleep 300\n" };
    }
    return { ok: true, stdout: BSD_INFO };
  });
  assert.equal(bsd.processes()?.length, 5);
  assert.deepEqual([...bsd.carrying(MARK, [501])!], [501]);
  assert.deepEqual(calls, [
    ["-A", "-o", "pid=", "-o", "pgid=", "-o", "stat=", "-o", "lstart="],
    ["-p", "501", "-ww", "-o", "pid=", "-o", "args="],
    ["-p", "501", "-E", "-ww", "-o", "pid=", "-o", "args="],
  ]);
  assert.deepEqual(psInfoArgs("procps").slice(4, 6), ["-o", "sid="]);
  assert.equal(psArgsArgs("procps", true)[0], "e");
  assert.equal(psFlavour("darwin"), "bsd");
  assert.equal(psFlavour("linux"), "procps");

  const denied = new PsInspector("procps", () => ({
    ok: false,
    problem:
      'Cannot run ps: Requires run access to "ps", run again with the --allow-run flag',
  }));
  assert.equal(denied.processes(), undefined);
  assert.equal(denied.carrying(MARK), undefined);
  assert.match(denied.problem() ?? "", /--allow-run/);
  // No PIDs asked about: nothing to run.
  assert.deepEqual(denied.processes([]), []);
});
