import assert from "node:assert/strict";
import { constants } from "node:os";
import { signalName, signalNumber } from "./signals.ts";

Deno.test("signalNumber() agrees with the platform's own table", () => {
  const platform = constants.signals as Record<string, number>;
  for (
    const name of [
      "SIGHUP",
      "SIGINT",
      "SIGKILL",
      "SIGTERM",
      "SIGUSR1",
      "SIGCHLD",
      "SIGSTOP",
      "SIGCONT",
    ]
  ) {
    assert.equal(signalNumber(name), platform[name], name);
  }
  assert.equal(signalNumber("sigterm"), 15);
  assert.equal(signalNumber("SIGNOPE"), undefined);
});

Deno.test("the macOS table has BSD's numbers", () => {
  assert.equal(signalNumber("SIGUSR1", "darwin"), 30);
  assert.equal(signalNumber("SIGCHLD", "darwin"), 20);
  assert.equal(signalName(17, "darwin"), "SIGSTOP");
  assert.equal(signalName(17, "linux"), "SIGCHLD");
  assert.equal(signalName(99), undefined);
});
