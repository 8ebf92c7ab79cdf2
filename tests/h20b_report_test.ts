// `jobs report` and the library's reporter: counts are decimal digits, and a
// worker without its store's name in the environment is not thrown at. (A
// report dropped because the job has ended: cli/jobs/report_test.ts.)

import assert from "node:assert/strict";
import { assertOneLineError, cli } from "../testdata/cli_helpers.ts";

Deno.test("jobs report takes counts in decimal digits only", async (t) => {
  for (const given of ["0x10", "1e3", " 5", "5.", "+5", "Infinity"]) {
    await t.step(given, async () => {
      const r = await cli(["jobs", "report", "--done", given]);
      assertOneLineError(
        r,
        1,
        /^error: Invalid --done ".*": a number, 0 or more, in decimal digits/,
      );
    });
  }
});

Deno.test("reportProgress() in a job whose store is not named does not throw", async () => {
  const code = `import { reportProgress } from ${
    JSON.stringify(new URL("../report.ts", import.meta.url).href)
  };
console.log(reportProgress({ done: 1 }));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    env: {
      EPACK_DETACH_JOB_ID: "01JD0Q2V3K5W8Y9Z0A1B2C3D4E",
      EPACK_DETACH_STORE: "",
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.equal(text, "true\n");
});
