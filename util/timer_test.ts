// Tests of the library's timers: they fire, a cancelled one never does, and
// they hold the process open exactly as long as `setTimeout` would.

import assert from "node:assert/strict";
import { after, sleep } from "./timer.ts";
import { until } from "../testdata/poll.ts";

Deno.test("after() calls once, and never once cancelled", async () => {
  let calls = 0;
  const cancel = after(20, () => calls += 100);
  const fired = Promise.withResolvers<void>();
  // Later than the cancelled one: by the time it fires, that one would have.
  after(40, () => {
    calls++;
    fired.resolve();
  });
  cancel();
  await fired.promise;
  assert.equal(calls, 1);
});

Deno.test("sleep() waits at least its time", async () => {
  const t = performance.now();
  await sleep(50);
  assert.ok(performance.now() - t >= 45);
});

/**
 * How long a `deno eval` of `code` kept its event loop alive, in ms: from
 * the code's start to the unload event, both on the child's clock, so that
 * Deno's start-up (slow on a loaded machine) is not counted.
 */
async function runTime(code: string): Promise<number> {
  const url = new URL("./timer.ts", import.meta.url).href;
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `import { after } from "${url}";\n` +
      `const t0 = performance.now();\n` +
      `addEventListener("unload", () => console.log(performance.now() - t0));\n` +
      code,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return Number(new TextDecoder().decode(out.stdout).trim());
}

Deno.test("a timer holds the process open until it fires, not once cancelled", async () => {
  const armed = await runTime("after(300, () => {});");
  assert.ok(armed >= 300, `exited after ${armed} ms`);
  const cancelled = await runTime("after(60_000, () => {})();");
  assert.ok(cancelled < 30_000, `exited after ${cancelled} ms`);
});

Deno.test("after() takes a delay as setTimeout does: NaN and negatives fire at once, not a throw", async () => {
  const fired: string[] = [];
  after(NaN, () => fired.push("NaN"));
  after(-5, () => fired.push("negative"));
  after(0.5, () => fired.push("fraction"));
  await sleep(NaN);
  await until("the three timers", () => fired.length === 3, 1_000, 5);
  assert.deepEqual(fired.sort(), ["NaN", "fraction", "negative"]);
});

Deno.test("after() holds a delay past MAX_TIMER (and Infinity) as the longest timer, never firing at once", async () => {
  let fired = 0;
  const cancels = [
    after(2 ** 40, () => fired++),
    after(Infinity, () => fired++),
  ];
  await sleep(100);
  for (const cancel of cancels) cancel();
  assert.equal(fired, 0);
});
