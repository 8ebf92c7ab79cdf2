// Specification of the CLI as a whole: help, version, and how bad input is
// reported (one line, a hint, exit 1, never a stack trace).

import assert from "node:assert/strict";
import { epackHelp, VERSION } from "./main.ts";
import { cli, lines, selfInvocation } from "../testdata/cli_helpers.ts";

Deno.test("VERSION is the version in deno.json", async () => {
  const config = JSON.parse(
    await Deno.readTextFile(new URL("../deno.json", import.meta.url)),
  );
  assert.equal(VERSION, config.version);
  assert.match(
    epackHelp(),
    new RegExp(`^epack ${VERSION.replaceAll(".", "\\.")}:`),
  );
});

Deno.test("every command has help", async () => {
  const cases: [string[], RegExp][] = [
    [["--help"], /^epack .*\n\nUsage: epack <command>/],
    [["-h"], /Commands:\n {2}pull/],
    [["help"], /Options every command takes:/],
    [["help", "pull"], /^Download a pack from a registry\./],
    [["pull", "--help"], /Usage: epack pull <remote> \[ref\]/],
    [["pull", "-h"], /--no-verify/],
    [["help", "run"], /^Run a program/],
    [["run", "--help"], /Usage: epack run \[options\] \[--\] <program>/],
    [["help", "jobs"], /epack jobs/],
    [["jobs", "--help"], /epack jobs/],
  ];
  await Promise.all(cases.map(async ([args, pattern]) => {
    const r = await cli(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stdout, pattern, args.join(" "));
    assert.equal(r.stderr, "");
  }));
});

Deno.test("--version prints the version", async () => {
  const [text, json] = await Promise.all([
    cli(["--version"]),
    cli(["--version", "--json"]),
  ]);
  assert.equal(text.stdout, `epack ${VERSION}\n`);
  assert.deepEqual(JSON.parse(json.stdout), { version: VERSION });
});

Deno.test("bad input is one error line, a usage hint, and exit 1", async () => {
  const cases: [string[], RegExp, string][] = [
    [[], /^error: Missing a command \(pull, run or jobs\)$/, ""],
    [["frob"], /^error: Unknown command: "frob"$/, ""],
    [["--frob"], /^error: Unknown option before the command: --frob/, ""],
    [["help", "frob"], /^error: Unknown command: "frob"$/, ""],
    [
      ["stop", "x"],
      /^error: Unknown command: "stop"; did you mean `jobs cancel`\?$/,
      "",
    ],
    [
      ["wait"],
      /^error: Unknown command: "wait"; did you mean `jobs wait`\?$/,
      "",
    ],
    [
      ["pul", "x"],
      /^error: Unknown command: "pul"; did you mean `pull`\?$/,
      "",
    ],
    [["pull"], /^error: Missing <remote>/, "pull"],
    [
      ["pull", "reg", "--bogus"],
      /^error: Unknown option: --bogus$/,
      "pull",
    ],
    [["pull", "reg", "-x"], /^error: Unknown option: -x$/, "pull"],
    [["pull", "reg", "-o"], /^error: -o needs a value$/, "pull"],
    [
      ["pull", "reg", "-d", "--timeout", "5x"],
      /^error: --timeout: Invalid duration: "5x"/,
      "pull",
    ],
    [
      ["pull", "s3://b/r"],
      /^error: Unsupported registry URL scheme/,
      "pull",
    ],
    [["run"], /^error: Missing the program to run/, "run"],
    [
      ["run", "--bogus", "--", "true"],
      /^error: Unknown option: --bogus$/,
      "run",
    ],
    [
      ["run", "--timeout", "soon", "--", "true"],
      /^error: --timeout: Invalid duration: "soon"/,
      "run",
    ],
  ];
  await Promise.all(cases.map(async ([args, message, command]) => {
    const r = await cli(args);
    const what = `epack ${args.join(" ")}`;
    assert.equal(r.code, 1, what);
    assert.equal(r.stdout, "", what);
    const out = lines(r.stderr);
    assert.equal(out.length, 2, `${what}: ${r.stderr}`);
    assert.match(out[0], message, what);
    assert.equal(
      out[1],
      `Run '${
        [selfInvocation(), command].filter(Boolean).join(" ")
      } --help' for usage.`,
      what,
    );
  }));
});

Deno.test("with --json, an error is also a JSON object on stdout", async () => {
  const r = await cli(["pull", "--json"]);
  assert.equal(r.code, 1);
  assert.deepEqual(JSON.parse(r.stdout), {
    error: "Missing <remote>: the registry to pull from",
    exit_code: 1,
  });
  assert.match(r.stderr, /^error: Missing <remote>/);
});

Deno.test("output is never coloured off a terminal, nor with NO_COLOR", async () => {
  const [plain, noColor] = await Promise.all([
    cli(["pull", "/nonexistent-registry-zz"]),
    cli(["frob"], { env: { NO_COLOR: "1" } }),
  ]);
  for (const r of [plain, noColor]) {
    assert.equal(r.code, 1);
    assert.ok(!r.stderr.includes("\x1b["), r.stderr);
  }
});

Deno.test("an unknown command with --json is a JSON error on stdout too", async () => {
  for (const args of [["frob", "--json"], ["--frob", "--json"]]) {
    const r = await cli(args);
    assert.equal(r.code, 1);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.exit_code, 1);
    assert.match(doc.error, /^Unknown (command|option)/);
  }
});
