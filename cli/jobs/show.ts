// `epack jobs show <id>`: a job's details and the end of its log.

import { type LogTail, readLogTail } from "../../logs.ts";
import { EXIT } from "../_errors.ts";
import { colorEnabled, oneLine, out, outJson } from "../_output.ts";
import { type JobsContext, oneJobId } from "./_context.ts";
import { jobJson, renderDetails } from "./_render.ts";
import { attemptLines } from "./_attempts.ts";
import { keptLines, liveLeftovers, remoteHost } from "./_where.ts";
import { hint } from "../_hint.ts";

/** How many log lines `jobs <id>` shows. */
export const SHOW_TAIL_LINES = 10;
// The most bytes read from the end of a log, whatever its lines are like.
const SHOW_TAIL_MAX_BYTES = 64 * 1024;

/** Runs `jobs show`. */
export async function show(ctx: JobsContext): Promise<number> {
  const { store } = ctx;
  const job = await store.load(await oneJobId(ctx));
  const now = Date.now();
  let tail: LogTail | undefined;
  let tailError: string | undefined;
  // A log on another host is not read: the end kept in the store is shown.
  const away = remoteHost(ctx, job);
  if (away !== undefined) {
    const kept = keptLines(job, SHOW_TAIL_LINES);
    if (kept !== undefined) {
      tail = { lines: kept, truncated: false, bytesRead: 0 };
    } else {
      tailError = `the log is on host ${away}, at ${job.logPath}` +
        (job.status === "running" ? "" : " (no end of it was kept)");
    }
  } else {
    try {
      tail = await readLogTail(store.logPath(job.id), {
        lines: SHOW_TAIL_LINES,
        maxBytes: SHOW_TAIL_MAX_BYTES,
      });
    } catch (e) {
      tailError = e instanceof Deno.errors.NotFound
        ? "the log file does not exist"
        : oneLine(e instanceof Error ? e.message : String(e));
    }
  }
  const live = liveLeftovers(store, [job]).get(job.id);
  if (ctx.json) {
    await outJson(jobJson(job, now, {
      ...(live !== undefined ? { live_pids: live } : {}),
      log_tail: tail?.lines ?? null,
      ...(tailError !== undefined ? { log_error: tailError } : {}),
    }));
    return EXIT.OK;
  }
  const color = colorEnabled(Deno.stdout);
  let text = renderDetails(job, {
    now,
    color,
    live,
    stop: hint(["jobs", "cancel", job.id], ctx.carry),
  });
  const tries = attemptLines(job, now);
  if (tries.length > 0) text += "\n" + tries.map((l) => l + "\n").join("");
  const lines = (prefix: (i: number) => string) =>
    tail!.lines.map((line, i) => `  ${prefix(i)}${line}\n`).join("");
  if (tail === undefined) {
    text += `\nNo log to show: ${tailError}\n`;
  } else if (away !== undefined) {
    text += `\nThe log is on host ${away}, at ${job.logPath}; ` +
      `the end kept in the store:\n${lines(() => "")}`;
  } else if (tail.lines.length === 0) {
    text += "\nThe log is empty.\n";
  } else {
    const n = tail.lines.length;
    text += `\nLast ${n} line${n === 1 ? "" : "s"} of the log:\n` +
      lines((i) => i === 0 && tail!.truncated ? "…" : "");
  }
  await out(text);
  return EXIT.OK;
}
