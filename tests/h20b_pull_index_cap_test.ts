// A registry's index is read up to a cap (64 MiB), never whole whatever its
// size: a bigger one is refused in one line, over HTTP and on disk.

import assert from "node:assert/strict";
import { join } from "node:path";
import { cli, withTempDir } from "../testdata/cli_helpers.ts";

const CAP_LINE =
  /^error: The registry index \S+ is larger than 64 MiB; refused\n$/;

Deno.test("pull refuses an index over 64 MiB served without end", async () => {
  let sent = 0;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => {
      const chunk = new TextEncoder().encode(" ".repeat(1 << 20));
      // 1 GiB of spaces, made as it is read: a whole read would take 1 GiB.
      return new Response(
        new ReadableStream({
          pull(c) {
            if (sent >= 1 << 30) return c.close();
            sent += chunk.length;
            c.enqueue(chunk);
          },
        }),
      );
    },
  );
  try {
    const r = await cli(["pull", `http://127.0.0.1:${server.addr.port}/`]);
    assert.equal(r.code !== 0, true);
    assert.match(r.stderr, CAP_LINE);
    assert.ok(sent < 256 << 20, `read ${sent} bytes`);
  } finally {
    await server.shutdown();
  }
});

Deno.test("pull refuses an index file over 64 MiB", async () => {
  await withTempDir(async (dir) => {
    const index = join(dir, "index.json");
    using f = await Deno.create(index);
    await f.truncate(65 * 1024 * 1024);
    const r = await cli(["pull", dir]);
    assert.equal(r.code !== 0, true);
    assert.match(r.stderr, CAP_LINE);
  });
});
