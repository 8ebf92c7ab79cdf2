// Specification of the CLI's output helpers.

import assert from "node:assert/strict";
import {
  formatTable,
  humanDuration,
  oneLine,
  relativeTime,
  safe,
  shellLine,
  shellQuote,
} from "./_output.ts";

Deno.test("shellQuote() quotes only what a shell would misread", () => {
  assert.equal(
    shellQuote("plain/path-1.2_x@y:z,w+=%"),
    "plain/path-1.2_x@y:z,w+=%",
  );
  assert.equal(shellQuote(""), "''");
  assert.equal(shellQuote("a b"), "'a b'");
  assert.equal(shellQuote("it's"), `'it'\\''s'`);
  assert.equal(shellLine(["echo", "$HOME", "*"]), "echo '$HOME' '*'");
});

Deno.test("safe() escapes control characters and keeps the rest", () => {
  assert.equal(safe("a\nb\tc\x1b[2J\x7f é"), "a\\nb\\tc\\x1b[2J\\x7f é");
  // Bidirectional controls and Unicode line breaks would reorder or split
  // what the terminal shows.
  assert.equal(
    safe("x\u202eevil\u2066\u2028y\u200f"),
    "x\\u{202e}evil\\u{2066}\\u{2028}y\\u{200f}",
  );
  assert.equal(safe("日本語 ü"), "日本語 ü");
});

Deno.test("oneLine() joins trimmed lines", () => {
  assert.equal(oneLine("  first\n\n  second  \n"), "first second");
});

Deno.test("formatTable() pads every column but the last, and shrinks one", () => {
  assert.deepEqual(
    formatTable([["A", "LONG HEADER", "Z"], ["aaaa", "b", "c"]], {
      shrink: { column: 1, width: 6 },
      style: (text, row, column) =>
        row > 0 && column === 0 ? `<${text}>` : text,
    }),
    ["A     LONG …  Z", "<aaaa>  b       c"],
  );
  assert.deepEqual(formatTable([]), []);
});

Deno.test("relativeTime() and humanDuration() read at a glance", () => {
  const now = Date.parse("2026-01-01T12:00:00Z");
  assert.equal(relativeTime(new Date(now - 500), now), "just now");
  assert.equal(relativeTime(new Date(now - 1_000), now), "1s ago");
  assert.equal(relativeTime(new Date(now - 90_000), now), "1m ago");
  assert.equal(relativeTime(new Date(now - 5 * 3600_000), now), "5h ago");
  assert.equal(relativeTime(new Date(now - 3 * 86400_000), now), "3d ago");
  // A clock that went back: not "-3s ago".
  assert.equal(relativeTime(new Date(now + 3_000), now), "just now");
  assert.equal(humanDuration(250), "250ms");
  assert.equal(humanDuration(8_250), "8.2s");
  assert.equal(humanDuration(90_000), "1m30s");
});
