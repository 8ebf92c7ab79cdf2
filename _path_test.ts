import assert from "node:assert/strict";
import * as posix from "node:path/posix";
import { dirname, join, resolve } from "./_path.ts";

// node:path's POSIX half is the reference: tests may load it, the library
// must not.
const CASES = [
  ["a", "b"],
  ["/a", "b", "../c"],
  ["/a/", "./b//", "c/"],
  ["a", "..", ".."],
  ["/", ".."],
  ["", "a"],
  [""],
  ["/srv/app", ".epack", "jobs"],
  ["a/b", "../../.."],
];

Deno.test("join() gives node:path's POSIX answers", () => {
  for (const parts of CASES) {
    assert.equal(join(...parts), posix.join(...parts), parts.join(" | "));
  }
});

Deno.test("resolve() gives node:path's POSIX answers, from the cwd", () => {
  for (const parts of [...CASES, ["/x", "/y", "z"], ["rel"], []]) {
    assert.equal(
      resolve(...parts),
      posix.resolve(...parts),
      parts.join(" | "),
    );
  }
});

Deno.test("dirname() gives node:path's POSIX answers", () => {
  for (
    const path of ["/a/b", "/a/b/", "/a", "/", "a", "a/b", "a/", "/a/b//", ""]
  ) {
    assert.equal(dirname(path), posix.dirname(path), JSON.stringify(path));
  }
});
