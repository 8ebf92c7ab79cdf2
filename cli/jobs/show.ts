// `epack jobs show <id>`: a job's details and the end of its log.

import { readLogTail } from "../../logs.ts";
import type { Job } from "../../store/job.ts";
import { EXIT } from "../_errors.ts";
import { colorEnabled, oneLine, out, outJson, safe } from "../_output.ts";
import { type JobsContext, oneJobId } from "./_context.ts";
import { jobJson, renderDetails } from "./_render.ts";
import { attemptLines } from "./_attempts.ts";
import {
  keptLines,
  liveLeftovers,
  remoteHost,
  stoppedSupervisors,
} from "./_where.ts";
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
  const away = remoteHost(ctx, job);
  const tail = await logEnd(ctx, job, away);
  const live = liveLeftovers(store, [job]).get(job.id);
  if (ctx.json) {
    await outJson(jobJson(job, now, {
      ...(live !== undefined ? { live_pids: live } : {}),
      log_tail: "error" in tail ? null : tail.lines,
      ...("error" in tail ? { log_error: tail.error } : {}),
    }));
    return EXIT.OK;
  }
  let text = renderDetails(job, {
    now,
    color: colorEnabled(Deno.stdout),
    live,
    stop: hint(["jobs", "cancel", job.id], ctx.carry),
    stopped: (await stoppedSupervisors(store, [job])).has(job.id),
  });
  const tries = attemptLines(job, now);
  if (tries.length > 0) text += "\n" + tries.map((l) => l + "\n").join("");
  if ("error" in tail) {
    text += `\nNo log to show: ${tail.error}\n`;
  } else if (tail.lines.length === 0) {
    text += "\nThe log is empty.\n";
  } else {
    const n = tail.lines.length;
    text += away !== undefined
      ? `\nThe log is on host ${away}, at ${job.logPath}; the end kept in the store:\n`
      : `\nLast ${n} line${n === 1 ? "" : "s"} of the log:\n`;
    // Always escaped (tabs aside), on a terminal or not: a log's escapes
    // must not act on the terminal, and a pipe often ends on one. `jobs
    // logs` prints the raw bytes.
    text += tail.lines.map((line, i) =>
      `  ${i === 0 && tail.truncated ? "…" : ""}${
        line.split("\t").map(safe).join("\t")
      }\n`
    ).join("");
  }
  await out(text);
  return EXIT.OK;
}

// The end of the job's log: read here, or, for a log on another host, the
// end kept in the store.
async function logEnd(
  ctx: JobsContext,
  job: Job,
  away: string | undefined,
): Promise<{ lines: string[]; truncated: boolean } | { error: string }> {
  if (away !== undefined) {
    const lines = keptLines(job, SHOW_TAIL_LINES);
    if (lines !== undefined) return { lines, truncated: false };
    return {
      error: `the log is on host ${away}, at ${job.logPath}` +
        (job.status === "running" ? "" : " (no end of it was kept)"),
    };
  }
  try {
    return await readLogTail(ctx.store.logPath(job.id), {
      lines: SHOW_TAIL_LINES,
      maxBytes: SHOW_TAIL_MAX_BYTES,
    });
  } catch (e) {
    return {
      error: e instanceof Deno.errors.NotFound
        ? "the log file does not exist"
        : oneLine(e instanceof Error ? e.message : String(e)),
    };
  }
}
