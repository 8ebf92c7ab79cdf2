// How a job's progress and result read in `jobs` and `jobs <id>`.

import assert from "node:assert/strict";
import { formatProgress, humanBytes, renderResult } from "./_render.ts";

Deno.test("formatProgress() shows a percentage with a total, a count without", () => {
  const cases: [Parameters<typeof formatProgress>[0], string][] = [
    [{ done: 118 << 20, total: 280 << 20, unit: "B" }, "42% 118 MiB/280 MiB"],
    [{ done: 1200, unit: "files" }, "1200 files"],
    [{ done: 3, total: 10, unit: "files" }, "30% 3/10 files"],
    [{ done: 0, total: 0 }, "100% 0/0"],
    [{ done: 999, total: 1000 }, "99% 999/1000"],
    [{ done: 2.5, total: 10, unit: "GB" }, "25% 2.5/10 GB"],
    [{ done: 512, unit: "B" }, "512 B"],
    [{ done: 3.4 * 1024, unit: "B" }, "3.4 KiB"],
  ];
  for (const [p, text] of cases) assert.equal(formatProgress(p), text);
});

Deno.test("humanBytes() uses binary units, one decimal below 10", () => {
  assert.equal(humanBytes(0), "0 B");
  assert.equal(humanBytes(1023), "1023 B");
  assert.equal(humanBytes(1024), "1.0 KiB");
  assert.equal(humanBytes(50_000), "49 KiB");
  assert.equal(humanBytes(5 * 2 ** 40), "5.0 TiB");
});

Deno.test("renderResult() is one line when short, indented when long, escaped", () => {
  assert.equal(renderResult({ ok: true }), '{"ok":true}');
  const long = renderResult({ path: "p".repeat(80), n: 1 });
  assert.equal(long.split("\n").length, 4);
  // JSON escapes C0 controls itself; C1 ones reach the text and are escaped.
  assert.equal(renderResult({ t: "a\u009bb" }), '{"t":"a\\x9bb"}');
});
