import assert from "node:assert/strict";
import * as posix from "node:path/posix";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  basename,
  dirname,
  fromFileUrl,
  join,
  resolve,
  toFileUrl,
} from "./path.ts";

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

const PATHS = [
  "/a/b",
  "/a/b/",
  "/a",
  "/",
  "a",
  "a/b",
  "a/",
  "/a/b//",
  "",
  "//",
  ".",
  "..",
  "/a/.hidden",
  "a b/c",
];

Deno.test("basename() gives node:path's POSIX answers", () => {
  for (const path of PATHS) {
    assert.equal(basename(path), posix.basename(path), JSON.stringify(path));
  }
});

const URL_PATHS = [
  "/srv/reg/index.json",
  "/a b/c%41?x#y",
  "/tab\there\nnew\rline",
  "/back\\slash",
  "/é/ü/日本",
  "/dir/",
  "/",
  "rel/x",
  "/quote\"'<>`{}|^",
  "/semi;colon,comma=eq&amp+plus@at$dollar!bang()[]~",
];

// Node's pathToFileURL escapes more characters in later versions (the
// node:url of Deno 2.7 leaves "|^[]~" bare, 2.9's escapes them); both
// spellings name the same file. So the two URLs are compared decoded, and
// the decoded form must be the path itself.
function sameAcrossNodeVersions(href: string): string {
  const url = new URL(href);
  return `${url.protocol}//${url.host}${decodeURIComponent(url.pathname)}`;
}

Deno.test("toFileUrl() gives node:url's pathToFileURL answers", () => {
  for (const path of URL_PATHS) {
    assert.equal(
      sameAcrossNodeVersions(toFileUrl(path).href),
      sameAcrossNodeVersions(pathToFileURL(path).href),
      JSON.stringify(path),
    );
  }
  for (let c = 1; c < 0x800; c++) {
    const path = `/x${String.fromCharCode(c)}y`;
    assert.equal(
      sameAcrossNodeVersions(toFileUrl(path).href),
      sameAcrossNodeVersions(pathToFileURL(path).href),
      path,
    );
    assert.equal(fromFileUrl(toFileUrl(path)), path);
  }
});

Deno.test("fromFileUrl() gives node:url's fileURLToPath answers", () => {
  const urls = [
    ...URL_PATHS.map((p) => pathToFileURL(p).href),
    "file:///a%20b/%41",
    "file://localhost/x",
    "file:///a/b/",
    "file:///a%00b",
    "file:///a?q#h",
    "file:///a%2Fb/../c",
  ];
  for (const url of urls) {
    assert.equal(fromFileUrl(url), fileURLToPath(url), url);
    assert.equal(fromFileUrl(new URL(url)), fileURLToPath(new URL(url)), url);
  }
  for (const bad of ["file://host/x", "file:///a%2fb", "http://x/y"]) {
    assert.throws(() => fileURLToPath(bad), TypeError, bad);
    assert.throws(() => fromFileUrl(bad), TypeError, bad);
  }
});
