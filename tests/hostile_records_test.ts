// Records that a careless or hostile writer left in a jobs directory: each
// is reported as invalid, with its reason, and never hides, hangs or breaks
// the valid jobs beside it.

import assert from "node:assert/strict";
import { FileJobStore, InvalidJobFileError } from "../jobs.ts";

Deno.test("a record whose unknown key nests deeper than a result may is invalid, not a job whose end cannot be written", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_hostile_" });
  try {
    const store = new FileJobStore(dir);
    const deep = await store.create({ command: "x" });
    const fine = await store.create({ command: "x" });
    const path = store.recordPath(deep.id);
    // epack's Go reader takes up to 10,000 levels; structuredClone and the
    // writer do not.
    const text = (await Deno.readTextFile(path)).trimEnd().slice(0, -1) +
      `,"from_a_newer_version":${"[".repeat(10_000)}${"]".repeat(10_000)}}`;
    await Deno.writeTextFile(path, text);
    const { jobs, invalid } = await store.list();
    assert.deepEqual(jobs.map((j) => j.id), [fine.id]);
    assert.equal(invalid.length, 1);
    assert.match(invalid[0].reason, /from_a_newer_version.*nested more than/);
    await assert.rejects(store.load(deep.id), InvalidJobFileError);
    // Its neighbour is written as usual.
    const ended = await store.finish(fine.id, { status: "completed" });
    assert.equal(ended.status, "completed");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
