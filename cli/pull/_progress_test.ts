// Specification of download progress: how often plain lines are written,
// and that the bar stays on one line.

import assert from "node:assert/strict";
import { formatBytes, Progress } from "./_progress.ts";

function recorder() {
  const chunks: string[] = [];
  return {
    chunks,
    sink: {
      writeSync(data: Uint8Array): number {
        chunks.push(new TextDecoder().decode(data));
        return data.length;
      },
    },
  };
}

Deno.test("Progress writes a line per 10 % step, and every 2 s in between", () => {
  const { chunks, sink } = recorder();
  let now = 0;
  const p = new Progress({
    label: "p v1",
    total: 1000,
    style: "lines",
    sink,
    now: () => now,
  });
  for (let bytes = 10; bytes <= 1000; bytes += 10) p.update(bytes);
  assert.deepEqual(chunks.map((c) => /\((\d+)%\)/.exec(c)?.[1]), [
    "1",
    "10",
    "20",
    "30",
    "40",
    "50",
    "60",
    "70",
    "80",
    "90",
    "100",
  ]);
  p.finish();
  assert.equal(chunks.length, 11, "the 100 % line is not repeated");

  const slow = recorder();
  now = 0;
  const q = new Progress({
    label: "q",
    style: "lines",
    sink: slow.sink,
    now: () => now,
  });
  for (let i = 1; i <= 10; i++) {
    now = i * 500;
    q.update(i * 1024);
  }
  q.finish();
  assert.deepEqual(slow.chunks, [
    "q: 1.0 KiB\n",
    "q: 5.0 KiB\n",
    "q: 9.0 KiB\n",
    "q: 10.0 KiB\n",
  ]);
});

Deno.test("Progress draws the bar in place and ends its line", () => {
  const { chunks, sink } = recorder();
  let now = 0;
  const p = new Progress({
    label: "p",
    total: 100,
    style: "bar",
    sink,
    columns: 60,
    now: () => now,
  });
  p.update(50);
  now = 50;
  p.update(60); // too soon to redraw
  now = 1000;
  p.finish();
  assert.equal(chunks.length, 3);
  assert.ok(chunks[0].startsWith("\r\x1b[Kp ["), JSON.stringify(chunks[0]));
  assert.ok(
    chunks[0].endsWith("]  50%  50 B/100 B"),
    JSON.stringify(chunks[0]),
  );
  assert.ok(chunks.join("").endsWith("\n"));
  const quiet = recorder();
  const none = new Progress({ label: "p", style: "none", sink: quiet.sink });
  none.update(5);
  none.finish();
  none.abandon();
  assert.deepEqual(quiet.chunks, []);
});

Deno.test("formatBytes() uses binary units", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5 * 1024 ** 3), "5.0 GiB");
});
