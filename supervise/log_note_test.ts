// Tests of the supervisor's lines in a job's log, on real files.

import assert from "node:assert/strict";
import { join } from "node:path";
import { appendLogNote } from "./log_note.ts";
import { withTempDir } from "../testdata/cli_helpers.ts";

Deno.test("appendLogNote() starts its line on a line of its own, and keeps it one line", async () => {
  await withTempDir(async (dir) => {
    const log = join(dir, "job.log");
    await Deno.writeTextFile(log, "");
    await appendLogNote(log, "first");
    await Deno.writeTextFile(log, "no newline", { append: true });
    await appendLogNote(log, "second\nline");
    assert.equal(
      await Deno.readTextFile(log),
      "[@epack/detach] first\nno newline\n[@epack/detach] second\\nline\n",
    );
  });
});

Deno.test("appendLogNote() never makes a log that is gone, and never throws", async () => {
  await withTempDir(async (dir) => {
    const log = join(dir, "gone.log");
    await appendLogNote(log, "lost words");
    await assert.rejects(() => Deno.stat(log), Deno.errors.NotFound);
  });
});
