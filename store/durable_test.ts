// Specification of durable writes and the per-job lock (_durable.ts), on
// real files. Atomic replacement under a concurrent reader and updates from
// several processes are tested through the store in jobs_test.ts.

import assert from "node:assert/strict";
import { join } from "node:path";
import { JobNotFoundError } from "../jobs.ts";
import { removeStaleTemps, withFileLock, writeFileDurably } from "./durable.ts";
import { exists, HOUR } from "../testdata/store_helpers.ts";

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "detach_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function names(dir: string): Promise<string[]> {
  const out = [];
  for await (const entry of Deno.readDir(dir)) out.push(entry.name);
  return out.sort();
}

const bytes = (s: string) => new TextEncoder().encode(s);

Deno.test("writeFileDurably() replaces a file and leaves no temp file", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "job_1.json");
    writeFileDurably(path, bytes("one"));
    writeFileDurably(path, bytes("two"));
    assert.equal(await Deno.readTextFile(path), "two");
    assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await names(dir), ["job_1.json"]);
  });
});

Deno.test("writeFileDurably() with createNew never overwrites", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "job_1.json");
    writeFileDurably(path, bytes("first"), { createNew: true });
    assert.throws(
      () => writeFileDurably(path, bytes("second"), { createNew: true }),
      Deno.errors.AlreadyExists,
    );
    assert.equal(await Deno.readTextFile(path), "first");
    assert.deepEqual(await names(dir), ["job_1.json"]);
  });
});

Deno.test("writeFileDurably() into a missing directory throws and creates nothing", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "gone", "job_1.json");
    assert.throws(
      () => writeFileDurably(path, bytes("x")),
      Deno.errors.NotFound,
    );
    assert.deepEqual(await names(dir), []);
  });
});

Deno.test("withFileLock() serialises critical sections and never creates the directory", async () => {
  await withTempDir(async (dir) => {
    const lock = join(dir, "job_1.lock");
    const events: string[] = [];
    await Promise.all(
      [1, 2, 3].map((n) =>
        withFileLock("job_1", lock, async () => {
          events.push(`in ${n}`);
          await new Promise((r) => setTimeout(r, 10));
          events.push(`out ${n}`);
        })
      ),
    );
    for (let i = 0; i < events.length; i += 2) {
      assert.equal(events[i].slice(3), events[i + 1].slice(4), String(events));
    }
    assert.equal((await Deno.stat(lock)).mode! & 0o777, 0o600);

    const missing = join(dir, "gone", "job_1.lock");
    await assert.rejects(
      withFileLock("job_1", missing, () => Promise.resolve()),
      (err: unknown) => {
        assert.ok(err instanceof JobNotFoundError);
        assert.equal(err.id, "job_1");
        return true;
      },
    );
    assert.equal(await exists(join(dir, "gone")), false);
  });
});

Deno.test("removeStaleTemps() removes only old hidden temp files", async () => {
  await withTempDir(async (dir) => {
    const old = new Date(Date.now() - 2 * HOUR);
    for (const name of [".a.1234.tmp", ".b.5678.tmp", "c.tmp", ".d.json"]) {
      await Deno.writeTextFile(join(dir, name), "{");
      if (name !== ".b.5678.tmp") await Deno.utime(join(dir, name), old, old);
    }
    await removeStaleTemps(dir, HOUR);
    assert.deepEqual(await names(dir), [".b.5678.tmp", ".d.json", "c.tmp"]);
    await removeStaleTemps(join(dir, "missing"), HOUR);
  });
});
