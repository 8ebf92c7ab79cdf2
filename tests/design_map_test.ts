// docs/design.md's map of the code names every module, so that it stays
// true as files come and go.

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const SKIP = /^(bench|testdata|examples|tests|\.ci)\/|_test\.ts$/;

function modules(dir = "", out: string[] = []): string[] {
  for (const e of Deno.readDirSync(new URL(dir || ".", ROOT))) {
    const path = dir + e.name;
    if (
      e.name.startsWith(".") || SKIP.test(path + (e.isDirectory ? "/" : ""))
    ) {
      continue;
    }
    if (e.isDirectory) modules(`${path}/`, out);
    else if (path.endsWith(".ts")) out.push(path);
  }
  return out;
}

Deno.test("docs/design.md's layout names every module", () => {
  const text = Deno.readTextFileSync(new URL("docs/design.md", ROOT));
  const layout = text.slice(text.indexOf("## Layout"));
  const missing = modules().filter((m) => !layout.includes(`\`${m}\``));
  assert.deepEqual(missing, [], "modules missing from the map");
});
