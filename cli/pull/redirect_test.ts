// Specification of `epack pull` against a registry whose index.json is
// redirected: pack paths are relative to where the index really is, and the
// registry never moves to another origin.

import assert from "node:assert/strict";
import { join } from "../../util/path.ts";
import {
  assertOneLineError,
  cli,
  listDir,
  serveDir,
  sha256,
  withTempDir,
  writeRegistry,
} from "../../testdata/cli_helpers.ts";

const PACK = {
  name: "api",
  version: "v1",
  published_at: "2024-01-01T00:00:00Z",
  content: "the pack at /new/\n",
};

function redirect(location: string): () => Response {
  return () => new Response(null, { status: 302, headers: { location } });
}

Deno.test("pull resolves pack paths against the index's URL after redirects", async () => {
  await withTempDir(async (dir) => {
    // The registry lives under /new/; /old/index.json redirects there, and
    // /old/ holds a decoy that a path resolved against /old/ would get.
    const root = join(dir, "site");
    await writeRegistry(join(root, "new"), [PACK]);
    await writeRegistry(join(root, "old"), [{ ...PACK, content: "decoy\n" }]);
    await Deno.remove(join(root, "old", "index.json"));
    await using server = serveDir(root, {
      "/old/index.json": redirect("/new/index.json"),
    });
    const out = join(dir, "out.epack");

    const dry = await cli([
      "pull",
      `${server.url}old/`,
      "-o",
      out,
      "--dry-run",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`from ${server.url}new/packs/`));

    const r = await cli(["pull", `${server.url}old/`, "-o", out, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await Deno.readTextFile(out), PACK.content);
    assert.equal(JSON.parse(r.stdout).digest, sha256(PACK.content));
    assert.match(JSON.parse(r.stdout).source, /\/new\/packs\//);
    assert.ok(
      !server.requests.some((p) => p.startsWith("/old/packs/")),
      server.requests.join(", "),
    );
  });
});

Deno.test("pull refuses an index redirected to another origin", async () => {
  await withTempDir(async (dir) => {
    await writeRegistry(join(dir, "elsewhere"), [PACK]);
    await using other = serveDir(join(dir, "elsewhere"));
    await using server = serveDir(join(dir, "empty"), {
      "/index.json": redirect(`${other.url}index.json`),
    });
    const out = join(dir, "out");
    await Deno.mkdir(out);
    for (const extra of [[], ["--dry-run"]]) {
      const r = await cli(["pull", server.url, "-o", `${out}/`, ...extra]);
      assertOneLineError(
        r,
        1,
        new RegExp(
          `^error: The registry index ${server.url}index\\.json redirects to another origin \\(${other.url}index\\.json\\); give that URL as <remote>`,
        ),
      );
    }
    assert.deepEqual(await listDir(out), []);
    assert.ok(
      !other.requests.some((p) => p.startsWith("/packs/")),
      "no pack was fetched from the other origin",
    );
  });
});
