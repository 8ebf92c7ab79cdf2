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

Deno.test("a FIFO or an oversized file in place of a record is invalid, read without blocking or reading it whole", async () => {
  const dir = await Deno.makeTempDir({ prefix: "detach_hostile_" });
  try {
    const store = new FileJobStore(dir);
    const fifo = await store.create({ command: "x" });
    const big = await store.create({ command: "x" });
    const fine = await store.create({ command: "x" });
    await Deno.remove(store.recordPath(fifo.id));
    const mk = await new Deno.Command("mkfifo", {
      args: [store.recordPath(fifo.id)],
    }).output();
    assert.ok(mk.success);
    // Past the bound, sparse: reading it whole would take 8 MiB.
    const f = await Deno.open(store.recordPath(big.id), { write: true });
    await f.truncate(8 * 1024 * 1024);
    f.close();
    await assert.rejects(store.load(fifo.id), (err: unknown) => {
      assert.ok(err instanceof InvalidJobFileError);
      assert.equal(err.reason, "not a regular file");
      return true;
    });
    await assert.rejects(
      store.update(fifo.id, (j) => j),
      InvalidJobFileError,
    );
    await assert.rejects(store.load(big.id), (err: unknown) => {
      assert.ok(err instanceof InvalidJobFileError);
      assert.match(err.reason, /^8388608 bytes, more than a record holds/);
      return true;
    });
    const { jobs, invalid } = await store.list();
    assert.deepEqual(jobs.map((j) => j.id), [fine.id]);
    assert.deepEqual(
      invalid.map((i) => i.id).sort(),
      [big.id, fifo.id].sort(),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
