// Tests of the library's timers: they fire, a cancelled one never does, and
// they hold the process open exactly as long as `setTimeout` would.

import assert from "node:assert/strict";
import { after, sleep } from "./timer.ts";

Deno.test("after() calls once, and never once cancelled", async () => {
  let calls = 0;
  after(20, () => calls++);
  const cancel = after(20, () => calls += 100);
  cancel();
  await sleep(120);
  assert.equal(calls, 1);
});

Deno.test("sleep() waits at least its time", async () => {
  const t = performance.now();
  await sleep(50);
  assert.ok(performance.now() - t >= 45);
});

/** How long a `deno eval` of `code` ran, in ms. */
async function runTime(code: string): Promise<number> {
  const url = new URL("./timer.ts", import.meta.url).href;
  const t = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", `import { after } from "${url}";\n${code}`],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return performance.now() - t;
}

Deno.test("a timer holds the process open until it fires, not once cancelled", async () => {
  // Generous bounds: a loaded machine starts Deno slowly, never early.
  const armed = await runTime("after(1500, () => {});");
  assert.ok(armed >= 1500, `exited after ${armed} ms`);
  const cancelled = await runTime("after(60_000, () => {})();");
  assert.ok(cancelled < 30_000, `exited after ${cancelled} ms`);
});

Deno.test("after() takes a delay as setTimeout does: NaN and negatives fire at once, not a throw", async () => {
  const fired: string[] = [];
  after(NaN, () => fired.push("NaN"));
  after(-5, () => fired.push("negative"));
  after(0.5, () => fired.push("fraction"));
  await sleep(NaN);
  await sleep(50);
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
