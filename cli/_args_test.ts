// Specification of the CLI's one flag parser: one grammar for every command.

import assert from "node:assert/strict";
import {
  firstPositional,
  type FlagSpecs,
  formatFlags,
  parseFlags,
  wantsJson,
} from "./_args.ts";
import { CliError } from "./_errors.ts";
import { cli, MOD, withTempDir } from "../testdata/cli_helpers.ts";

const SPECS: FlagSpecs = {
  all: { type: "boolean", short: "a", help: "Everything" },
  force: { type: "boolean", short: "f" },
  output: { type: "string", short: "o", value: "PATH", help: "Where\nto" },
  verify: { type: "boolean", negated: true, help: "Skip the check" },
};

const parse = (args: string[], stopAtPositional = false) =>
  parseFlags(args, SPECS, { command: "x", stopAtPositional });

Deno.test("parseFlags() reads every spelling of a boolean", () => {
  assert.deepEqual(parse(["--all"]).values, { all: true });
  assert.deepEqual(parse(["--all=true"]).values, { all: true });
  assert.deepEqual(parse(["--all=false"]).values, { all: false });
  assert.deepEqual(parse(["--all=0"]).values, { all: false });
  assert.deepEqual(parse(["--no-all"]).values, { all: false });
  assert.deepEqual(parse(["-a"]).values, { all: true });
  assert.deepEqual(parse(["-af"]).values, { all: true, force: true });
});

Deno.test("parseFlags() takes a string flag's value whatever it looks like", () => {
  assert.equal(parse(["--output", "-x"]).values.output, "-x");
  assert.equal(parse(["--output=a=b"]).values.output, "a=b");
  assert.equal(parse(["-o", "--"]).values.output, "--");
  assert.equal(parse(["-oval"]).values.output, "val");
  assert.equal(parse(["-o=val"]).values.output, "val");
  assert.equal(parse(["-fo", "val"]).values.output, "val");
});

Deno.test("parseFlags() keeps positionals, and -- ends the flags", () => {
  assert.deepEqual(parse(["a", "--all", "b"]).positionals, ["a", "b"]);
  assert.deepEqual(parse(["--", "--all", "-"]).positionals, ["--all", "-"]);
  const run = parse(["-a", "prog", "--all"], true);
  assert.deepEqual(run.values, { all: true });
  assert.deepEqual(run.positionals, ["prog", "--all"]);
});

const EMPTY = (flag: string) =>
  `${flag} is empty: give it a value, or leave the option out`;

Deno.test("parseFlags() refuses bad usage with one error style", () => {
  const cases: [string[], string][] = [
    [["--bogus"], "Unknown option: --bogus"],
    [["-x"], "Unknown option: -x"],
    [["-ax"], "Unknown option: -x (in -ax)"],
    [["--output"], "--output needs a value"],
    [["-o"], "-o needs a value"],
    [["--all=maybe"], '--all takes true or false, not "maybe"'],
    [["--no-all=true"], "--no-all does not take a value"],
    [["--no-output"], "Unknown option: --no-output; did you mean --output?"],
    [["--outptu"], "Unknown option: --outptu; did you mean --output?"],
    [["--verbose"], "Unknown option: --verbose"],
    [["--output", ""], EMPTY("--output")],
    [["--output="], EMPTY("--output")],
    [["-o", ""], EMPTY("-o")],
    [["-o="], EMPTY("-o")],
    [["-ao="], EMPTY("-o")],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parse(args),
      (err: unknown) =>
        err instanceof CliError && err.message === message &&
        err.usage === "x",
      JSON.stringify(args),
    );
  }
});

Deno.test("firstPositional() skips flags and their values", () => {
  assert.equal(firstPositional(["--output", "wait", "wait"], SPECS), 2);
  assert.equal(firstPositional(["--bogus", "-a", "x"], SPECS), 2);
  assert.equal(firstPositional(["-a", "--", "x"], SPECS), -1);
  assert.equal(firstPositional([], SPECS), -1);
});

Deno.test("formatFlags() lists the flags with help, from the specs", () => {
  assert.equal(
    formatFlags(SPECS),
    [
      "  -a, --all            Everything",
      "  -o, --output PATH    Where",
      "                       to",
      "      --no-verify      Skip the check",
    ].join("\n"),
  );
});

Deno.test("wantsJson() reads the command's own flags", () => {
  const specs: FlagSpecs = { json: { type: "boolean" } };
  assert.equal(wantsJson(["--json"], specs), true);
  assert.equal(wantsJson(["--json=false"], specs), false);
  assert.equal(wantsJson(["prog", "--json"], specs, true), false);
  assert.equal(wantsJson(["--bogus", "--json"], specs), true, "bad usage");
  assert.equal(wantsJson(["--", "--json"], specs), false);
});

Deno.test("every command takes --x=false: jobs --all=false, pull --force=false", async () => {
  await withTempDir(async (dir) => {
    const jobs = await cli(["jobs", "--all=false", "--jobs-dir", dir]);
    assert.equal(jobs.code, 0, jobs.stderr);
    assert.match(jobs.stdout, /^No running jobs in /);
    const all = await cli(["jobs", "--all=true", "--jobs-dir", dir]);
    assert.match(all.stdout, /^No jobs in /);
    const pull = await cli(["pull", "--force=false", "--help"]);
    assert.equal(pull.code, 0, pull.stderr);
  });
});

Deno.test("parseFlags() refuses a flag given twice, unless it repeats", () => {
  const specs: FlagSpecs = {
    ...SPECS,
    tag: { type: "string", multiple: true },
  };
  const cases: [string[], string][] = [
    [["--output", "a", "--output", "b"], "--output is given twice"],
    [["-o", "a", "--output=a"], "--output is given twice"],
    [["--all", "--all"], "--all is given twice"],
    [["-a", "--no-all"], "--all is given twice"],
    [["-aa"], "--all is given twice"],
  ];
  for (const [args, message] of cases) {
    assert.throws(
      () => parseFlags(args, specs, { command: "x" }),
      (err: unknown) => err instanceof CliError && err.message === message,
      JSON.stringify(args),
    );
  }
  const ok = parseFlags(["--tag", "a", "--tag", "b"], specs, { command: "x" });
  assert.deepEqual(ok.lists.tag, ["a", "b"]);
});

Deno.test("parseFlags() refuses an argument that was not valid UTF-8", () => {
  // Deno.args turns bytes it cannot decode into U+FFFD: running that
  // argument would run another command than the one typed.
  for (const args of [["prog", "a\ufffd"], ["--output", "\ufffd"]]) {
    assert.throws(
      () => parse(args, true),
      (err: unknown) =>
        err instanceof CliError && /not valid UTF-8/.test(err.message),
      JSON.stringify(args),
    );
  }
});

Deno.test("run refuses a program argument that was not valid UTF-8", async () => {
  const r = await new Deno.Command("sh", {
    args: [
      "-c",
      `exec "$0" run -A "$1" run -- echo "$(printf 'a\\377')"`,
      Deno.execPath(),
      MOD,
    ],
    env: { NO_COLOR: "1" },
  }).output();
  const err = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 1, err);
  assert.equal(r.stdout.length, 0);
  // Deno before 2.8 refuses such an argument itself, in its own words.
  assert.match(err, /^error: (Argument .*not valid UTF-8|invalid UTF-8)/);
});
