// Specification of the registry client, in-process: where a registry is,
// which pack is chosen, and which pack paths are refused.

import { parseIndex } from "./_index.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  NoMatchError,
  type PackEntry,
  parseRemote,
  RegistryError,
  resolveLocation,
  selectPack,
} from "./_registry.ts";

const D = `sha256:${"b".repeat(64)}`;

function entry(fields: Partial<PackEntry>): PackEntry {
  const publishedAt = fields.publishedAt ?? "2024-01-01T00:00:00Z";
  return {
    name: "p",
    workspace: "",
    environment: "",
    version: "v1",
    release: "",
    digest: D,
    path: "p.epack",
    index: 0,
    ...fields,
    publishedAt,
    publishedMs: Date.parse(publishedAt),
  };
}

Deno.test("parseRemote() reads URLs and directories", async (t) => {
  await t.step("an http(s) URL: index.json inside, or the .json named", () => {
    for (
      const [remote, index] of [
        ["https://h.example/packs", "https://h.example/packs/index.json"],
        ["https://h.example/packs/", "https://h.example/packs/index.json"],
        ["http://h.example", "http://h.example/index.json"],
        ["https://h.example/r/custom.json", "https://h.example/r/custom.json"],
        ["HTTPS://h.example/a#frag", "https://h.example/a/index.json"],
      ]
    ) {
      const source = parseRemote(remote);
      assert.equal(source.kind, "http");
      assert.equal(source.kind === "http" && source.indexUrl.href, index);
    }
  });
  await t.step("a file:// URL or a path, relative to the cwd", () => {
    assert.deepEqual(parseRemote("file:///srv/reg"), {
      kind: "file",
      remote: "file:///srv/reg",
      root: "/srv/reg",
      indexPath: "/srv/reg/index.json",
    });
    const rel = parseRemote("reg", "/home/me");
    assert.equal(
      rel.kind === "file" && rel.indexPath,
      "/home/me/reg/index.json",
    );
    const json = parseRemote("/srv/reg/other.json");
    assert.equal(json.kind === "file" && json.root, "/srv/reg");
  });
  await t.step("other schemes are refused", () => {
    assert.throws(() => parseRemote("s3://bucket/reg"), RegistryError);
    assert.throws(
      () => parseRemote("ftp://h/reg"),
      /Unsupported registry URL scheme "ftp:"/,
    );
  });
});

Deno.test("selectPack() takes the newest match, the first listed on a tie", () => {
  const entries = [
    entry({ release: "rel_1", publishedAt: "2024-01-01T00:00:00Z", index: 0 }),
    entry({
      release: "rel_2",
      publishedAt: "2024-01-01T01:00:00+02:00",
      index: 1,
    }),
    entry({ release: "rel_3", publishedAt: "2023-12-31T23:00:00Z", index: 2 }),
    entry({
      release: "rel_4",
      publishedAt: "2024-01-01T00:00:00.000Z",
      index: 3,
    }),
  ];
  // rel_2 is 23:00 the day before in UTC: the offset counts, not the text.
  assert.equal(selectPack(entries, {}, "r").release, "rel_1");
  assert.equal(selectPack(entries.slice(1), {}, "r").release, "rel_4");
  assert.throws(
    () => selectPack([], {}, "reg"),
    (err: unknown) =>
      err instanceof NoMatchError &&
      err.message === "The registry reg has no packs",
  );
});

Deno.test("parseIndex() accepts what Go writes and ignores unknown keys", () => {
  const [e] = parseIndex(
    JSON.stringify({
      schema: 2,
      packs: [{
        name: "acme-api",
        version: "1.2.3-rc.1+build.5",
        digest: D.toUpperCase().replace("SHA", "sha"),
        path: "packs/a b.epack",
        published_at: "2024-01-01T12:00:00.123456789-07:00",
        workspace: null,
        size: 0,
        labels: { team: "x" },
      }],
    }),
    "index.json",
  );
  assert.equal(e.digest, D, "lowercased");
  assert.equal(e.workspace, "");
  assert.equal(e.size, 0);
  assert.equal(e.publishedMs, Date.parse("2024-01-01T19:00:00.123Z"));
});

Deno.test("resolveLocation() keeps every pack inside its registry", async (t) => {
  await t.step("HTTP: the index's origin and directory only", async () => {
    const source = parseRemote("https://h.example/reg/");
    const ok = await resolveLocation(
      source,
      entry({ path: "packs/a%20b.epack" }),
    );
    assert.equal(
      ok.kind === "http" && ok.url.href,
      "https://h.example/reg/packs/a%20b.epack",
    );
    for (
      const path of [
        "//evil.example/x.epack",
        "\t//evil.example/x.epack",
        "https://evil.example/x.epack",
        "../x.epack",
        "%2e%2e/x.epack",
        "/x.epack",
      ]
    ) {
      // These entries bypass parseIndex(), which refuses most of them first.
      await assert.rejects(
        () => resolveLocation(source, entry({ path })),
        /Refusing pack p v1: its path .* (points to another origin|escapes the registry)/,
        path,
      );
    }
  });
  await t.step(
    "on disk: after symlinks, under the registry's real path",
    async () => {
      const dir = await Deno.makeTempDir({ prefix: "detach_" });
      try {
        const reg = join(dir, "reg");
        await Deno.mkdir(join(reg, "packs"), { recursive: true });
        await Deno.writeTextFile(join(reg, "packs", "a.epack"), "a");
        await Deno.writeTextFile(join(dir, "outside.epack"), "o");
        await Deno.symlink(
          join(dir, "outside.epack"),
          join(reg, "packs", "out.epack"),
        );
        await Deno.symlink(join(reg, "packs"), join(reg, "alias"));
        // The registry itself may be reached through a symlink.
        await Deno.symlink(reg, join(dir, "link-to-reg"));
        const source = parseRemote(join(dir, "link-to-reg"));
        const ok = await resolveLocation(
          source,
          entry({ path: "alias/a.epack" }),
        );
        assert.equal(
          ok.kind === "file" && ok.path,
          join(await Deno.realPath(reg), "packs", "a.epack"),
        );
        await assert.rejects(
          () => resolveLocation(source, entry({ path: "packs/out.epack" })),
          /leads outside the registry/,
        );
        await assert.rejects(
          () =>
            resolveLocation(source, entry({ path: "%2e%2e/outside.epack" })),
          /escapes the registry/,
        );
        await assert.rejects(
          () => resolveLocation(source, entry({ path: "packs/none.epack" })),
          /Pack p v1 is listed but missing/,
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
});
