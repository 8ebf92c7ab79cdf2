// Store names a careless user types: a mistyped database URL is refused in
// one line that hides its password, and never made into a directory.

import assert from "node:assert/strict";
import { cli } from "../testdata/cli_helpers.ts";
import { openStore } from "../store.ts";

const MISTYPED = [
  "postgres:/app:S3cretPW@db.example/prod",
  "postgress://app:S3cretPW@db.example/prod",
  "postgresql+ssl://app:S3cretPW@db.example/prod",
  "https://app:S3cretPW@db.example/prod",
];

Deno.test("a URL that is not a postgres:// one is refused, its password hidden, nothing made", async (t) => {
  const cwd = await Deno.makeTempDir({ prefix: "detach_names_" });
  try {
    for (const name of MISTYPED) {
      await t.step(name.split(":")[0], async () => {
        const r = await cli(["run", "-d", "--store", name, "--", "true"], {
          cwd,
        });
        assert.equal(r.code, 1, r.stdout);
        assert.match(r.stderr, /^error: Not a jobs directory nor a postgres/);
        assert.ok(!(r.stdout + r.stderr).includes("S3cretPW"), r.stderr);
        assert.deepEqual([...Deno.readDirSync(cwd)], []);
        await assert.rejects(
          openStore(name),
          (err: Error) =>
            err instanceof TypeError && !err.message.includes("S3cretPW"),
        );
      });
    }
    await t.step(
      "a directory whose name has a colon is still one",
      async () => {
        const store = await openStore(`${cwd}/backup:2026`);
        assert.equal(store.location, `${cwd}/backup:2026`);
      },
    );
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
