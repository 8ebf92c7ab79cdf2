// The job flags (--timeout, --retry, --retry-delay, --after, --after-ok,
// --on-end, --log-max): one spelling and one check for run and pull.

import assert from "node:assert/strict";
import { parseRunArgs } from "./run.ts";
import { parsePullArgs } from "./pull/_parse.ts";
import { CliError } from "./_errors.ts";
import { assertCliError, cli, withTempDir } from "../testdata/cli_helpers.ts";
import { until as poll } from "../testdata/poll.ts";

const A = "01ARYZ6S41TSV4RRFFQ69G5FAV";
const B = "01ARYZ6S41TSV4RRFFQ69G5FAW";

Deno.test("run and pull read the same job flags into the same options", () => {
  const flags = [
    "--retry",
    "3",
    "--retry-delay",
    "250ms",
    "--after",
    A,
    `--after=${B}`,
    "--after",
    A,
    "--after-ok",
    "--on-end",
    "echo $EPACK_JOB_STATUS",
    "--log-max",
    "10MiB",
  ];
  const expected = {
    retries: 3,
    retryDelay: 250,
    after: [A, B],
    afterOk: true,
    onEnd: "echo $EPACK_JOB_STATUS",
    logMax: 10 * 1024 * 1024,
  };
  const run = parseRunArgs(["--detach", ...flags, "--", "true"]);
  assert.deepEqual(run.control, expected);
  assert.equal(run.program, "true");
  const pull = parsePullArgs(["https://r.example", "--detach", ...flags]);
  assert.deepEqual(pull.control, expected);
  // A job's flags are not the pull's own: they never reach its flags.
  assert.deepEqual(pull.options, {});
});

Deno.test("job flags are refused without --detach, and bad values with one usage error", () => {
  const refusals: [string[], RegExp][] = [
    [["--retry", "2"], /--retry applies to a job: add --detach/],
    [["--after", A], /--after applies to a job/],
    [["--on-end", "true"], /--on-end applies to a job/],
    [["--log-max", "1MiB"], /--log-max applies to a job/],
    [["-d", "--retry", "-1"], /--retry: .*whole number/],
    [["-d", "--retry", "1.5"], /--retry: .*whole number/],
    [["-d", "--retry", "1001"], /--retry: Invalid retries: 1001/],
    [["-d", "--retry-delay", "1s"], /--retry-delay needs --retry/],
    [["-d", "--retry", "1", "--retry-delay", "soon"], /--retry-delay: /],
    [["-d", "--after", "../x"], /--after: Invalid after: "..\/x"/],
    [["-d", "--after-ok"], /--after-ok needs --after/],
    [["-d", "--on-end", " "], /--on-end: Invalid on-end hook/],
    [["-d", "--log-max", "0"], /--log-max: Invalid log cap: 0/],
    [["-d", "--log-max", "4095"], /--log-max: Invalid log cap: 4095 .*4096/],
    [["-d", "--log-max", "1.5B"], /--log-max: .*whole number of bytes/],
    [["-d", "--log-max", "lots"], /--log-max: Invalid size "lots"/],
  ];
  for (const [flags, message] of refusals) {
    for (
      const parse of [
        () => parseRunArgs([...flags, "--", "true"]),
        () => parsePullArgs(["https://r.example", ...flags]),
      ]
    ) {
      assert.throws(parse, (err: unknown) => {
        assert.ok(err instanceof CliError, String(err));
        assert.match(err.message, message, flags.join(" "));
        return true;
      });
    }
  }
  // --timeout alone limits a foreground run.
  assert.equal(parseRunArgs(["--timeout", "2s", "--", "true"]).timeout, 2000);
});

Deno.test("a bad job flag on the command line: one error line, a hint, nothing recorded", async () => {
  await withTempDir(async (dir) => {
    const jobs = `${dir}/jobs`;
    const run = await cli(
      ["run", "--detach", "--jobs-dir", jobs, "--retry", "-3", "--", "true"],
    );
    assertCliError(run, "run", /--retry: /);
    assert.throws(() => Deno.statSync(jobs), Deno.errors.NotFound);
    const help = await cli(["run", "--help"]);
    for (
      const flag of [
        "--retry N",
        "--retry-delay D",
        "--after JOB",
        "--after-ok",
        "--on-end CMD",
        "--log-max SIZE",
      ]
    ) {
      assert.ok(help.stdout.includes(flag), `run --help lacks ${flag}`);
    }
    const pullHelp = await cli(["pull", "--help"]);
    assert.ok(pullHelp.stdout.includes("--after JOB"));
  });
});

Deno.test("a job that waits or queues says so, with no PID, in text and in --json", async () => {
  await withTempDir(async (dir) => {
    const jobs = `${dir}/jobs`;
    const at = ["--jobs-dir", jobs];
    const first = await cli(
      ["run", "--detach", ...at, "--json", "--", "sleep", "30"],
    );
    assert.equal(first.code, 0, first.stderr);
    const running = JSON.parse(first.stdout);
    assert.equal(running.status, "running");
    try {
      const after = await cli(
        ["run", "--detach", ...at, "--after", running.id, "--", "true"],
      );
      assert.equal(after.code, 0, after.stderr);
      assert.match(
        after.stdout.split("\n")[0],
        new RegExp(
          `^Job \\w+ waits, with no process, for ${running.id} to end: true$`,
        ),
      );
      const ok = await cli(
        [
          "run",
          "--detach",
          ...at,
          "--json",
          "--after",
          running.id,
          "--after-ok",
          "--",
          "true",
        ],
        { env: { SECRET_TOKEN: "hunter2" } },
      );
      const waiting = JSON.parse(ok.stdout);
      // The environment it keeps for its start stays in the record; output
      // names the variables only.
      const shown = await cli(["jobs", waiting.id, ...at, "--json"]);
      assert.ok(shown.stdout.includes('"SECRET_TOKEN"'), shown.stdout);
      assert.ok(!shown.stdout.includes("hunter2"), "a secret was printed");
      const listed = await cli(["jobs", ...at, "--json"]);
      assert.ok(!listed.stdout.includes("hunter2"), "a secret was listed");
      const details = await cli(["jobs", waiting.id, ...at]);
      assert.match(details.stdout, /Status: +waiting/);
      assert.match(details.stdout, /Created: /);
      assert.match(details.stdout, /Duration: +not started/);
      assert.match(details.stdout, /Runs after: .* \(each must complete\)/);
      const table = await cli(["jobs", ...at]);
      assert.match(
        table.stdout,
        new RegExp(`${waiting.id} +waiting +(just now|\\d+s ago) +- +true`),
      );
      const mode = Deno.statSync(`${jobs}/${waiting.id}.json`).mode! & 0o777;
      assert.equal(mode, 0o600);
      assert.equal(waiting.status, "waiting");
      assert.deepEqual(waiting.after, [running.id]);
      assert.equal(waiting.pid, 0);
      const limit = await cli(["jobs", "limit", "1", ...at]);
      assert.equal(limit.code, 0, limit.stderr);
      const queued = await cli(["run", "--detach", ...at, "--", "true"]);
      assert.equal(queued.code, 0, queued.stderr);
      assert.match(queued.stdout, /^Job \w+ is queued, with no process: /);
    } finally {
      await cli(["jobs", "cancel", running.id, ...at, "--grace", "0s"]);
      await cli(["jobs", "limit", "0", ...at]);
      // Every job ends once the first has: the waiting ones run `true`,
      // or are cancelled (--after-ok).
      await poll(
        "every job to end",
        async () => {
          const list = await cli(["jobs", ...at, "--json"]);
          return JSON.parse(list.stdout).jobs.length === 0;
        },
        20_000,
        100,
      );
    }
  });
});
