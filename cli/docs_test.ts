// The docs say what the code does: docs/cli.md has every option and
// subcommand that --help shows, and docs/library.md every status.

import assert from "node:assert/strict";
import { epackHelp } from "./main.ts";
import { runHelp } from "./run.ts";
import { pullHelp } from "./pull/_parse.ts";
import { helpOf } from "./jobs/_help.ts";
import { JOBS_SUBCOMMANDS } from "./jobs/main.ts";
import type { Sub } from "./jobs/_specs.ts";
import { JOB_STATUSES } from "../store/job.ts";

const read = (name: string) =>
  Deno.readTextFile(new URL(`../docs/${name}`, import.meta.url));

/** The options a help text lists: `--name` and `-x`, from its option lines. */
function options(help: string): string[] {
  const found = new Set<string>();
  for (const line of help.split("\n")) {
    const m = /^\s+(?:(-\w), )?\s*(--[\w-]+)/.exec(line);
    if (m === null) continue;
    if (m[1] !== undefined) found.add(m[1]);
    found.add(m[2]);
  }
  return [...found];
}

Deno.test("docs/cli.md has every command, subcommand and option that --help shows", async () => {
  const doc = await read("cli.md");
  const helps: [string, string][] = [
    ["epack", epackHelp()],
    ["run", runHelp()],
    ["pull", pullHelp()],
    ["jobs", helpOf("jobs")],
    ...JOBS_SUBCOMMANDS.map((sub) =>
      [`jobs ${sub}`, helpOf(sub as Sub)] as [string, string]
    ),
  ];
  const missing: string[] = [];
  for (const [command, help] of helps) {
    const listed = options(help);
    assert.ok(listed.length > 0, `no options read from ${command} --help`);
    for (const option of listed) {
      if (!doc.includes(`\`${option}`)) missing.push(`${command} ${option}`);
    }
  }
  for (const command of ["pull", "run", "jobs", "help", "--version"]) {
    if (!doc.includes(`epack ${command}`)) missing.push(command);
  }
  for (const sub of JOBS_SUBCOMMANDS) {
    if (!doc.includes(`### jobs ${sub}`) && !doc.includes(`jobs ${sub}\``)) {
      missing.push(`jobs ${sub}`);
    }
  }
  assert.deepEqual(missing, []);
});

Deno.test("docs/library.md names every status a job can have", async () => {
  const doc = await read("library.md");
  const line = doc.split("\n").find((l) => l.includes("`JobStatus` is one of"));
  assert.ok(line !== undefined, "no list of statuses");
  const named = [
    ...doc.slice(doc.indexOf(line)).split("\n\n")[0].matchAll(
      /`(\w+)`/g,
    ),
  ].map((m) => m[1]).filter((w) => /^[a-z_]+$/.test(w));
  assert.deepEqual(named, [...JOB_STATUSES]);
});
