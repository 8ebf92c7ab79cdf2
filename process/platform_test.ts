// Tests of the platform check, with the OS injected: Windows cannot be run
// here, but its refusal can be asked for.

import assert from "node:assert/strict";
import { assertPosix } from "./platform.ts";

Deno.test("assertPosix() refuses Windows, naming the platform and what was asked", () => {
  assert.throws(
    () => assertPosix("spawn()", "windows"),
    (err: Error) =>
      /^Unsupported platform: spawn\(\) needs POSIX process groups and signals, which windows does not have/
        .test(err.message),
  );
});

Deno.test("assertPosix() lets Linux and macOS through", () => {
  for (const os of ["linux", "darwin"]) {
    assertPosix("jobs cancel", os);
  }
  assertPosix("spawn()"); // This machine.
});
