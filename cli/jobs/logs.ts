// `epack jobs logs <id> [-f] [-n N]`: print a job's log, and with -f what it
// writes until it ends, on the library's log reader (logs.ts).

import { followLog, type LogEvent, readLog } from "../../logs.ts";
import type { Job } from "../../jobs.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import { out, safe, writeAll, writeSync } from "../_output.ts";
import { type JobsContext, oneJobId } from "./_context.ts";
import { keptLines, remoteHost } from "./_where.ts";
import { humanBytes } from "./_render.ts";

/** Runs `jobs logs`. */
export async function logs(ctx: JobsContext): Promise<number> {
  const linesText = ctx.values.lines;
  let lines: number | undefined;
  if (typeof linesText === "string") {
    lines = Number(linesText);
    if (!/^\d+$/.test(linesText) || !Number.isSafeInteger(lines)) {
      const bad = JSON.stringify(linesText);
      const why = `Invalid -n value ${bad}: use a whole number of lines`;
      throw usageError(why, ctx.command);
    }
  }
  const id = await oneJobId(ctx);
  const { store } = ctx;
  const job = await store.load(id);
  const away = remoteHost(ctx, job);
  if (away !== undefined) return await remoteLog(ctx, job, away, lines);
  const path = store.logPath(job.id);
  const options = {
    store,
    ...(lines !== undefined ? { lines } : {}),
    // On stderr, each as it happens: the bytes on stdout stay the log's.
    onEvent: (event: LogEvent) => writeSync(Deno.stderr, eventLine(event, job)),
  };
  const chunks = ctx.values.follow === true
    ? followLog(job.id, options)
    : readLog(job.id, options);
  const sink = ctx.json ? new JsonLines() : undefined;
  try {
    for await (const chunk of chunks) {
      if (sink) await sink.push(chunk);
      else await writeAll(Deno.stdout, chunk);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new CliError(`Log file not found: ${path}`, { cause: e });
    }
    throw e;
  }
  await sink?.flush();
  return EXIT.OK;
}

/**
 * A job of another host: its log is there. What can be shown here is the end
 * of it the store kept when the job ended; a running job's log cannot be
 * read or followed from here.
 */
async function remoteLog(
  ctx: JobsContext,
  job: Job,
  host: string,
  lines: number | undefined,
): Promise<number> {
  const kept = keptLines(job, lines ?? Infinity);
  // The path is the row's, shown as information only: nothing reads it.
  const where = `The log of job ${job.id} is on host ${safe(host)}, at ${
    safe(job.logPath)
  }`;
  if (kept === undefined) {
    throw new CliError(
      where +
        (job.status === "running"
          ? ": run this command there to read or follow it"
          : "; the store kept no end of it"),
    );
  }
  writeSync(Deno.stderr, `${where}; the end of it kept in the store:\n`);
  await out(kept.map((l) => ctx.json ? lineJson(l) : l + "\n").join(""));
  return EXIT.OK;
}

/** What a log reader tells beside the bytes, as one line for stderr. */
function eventLine({ kind, path }: LogEvent, job: Job): string {
  const cap = job.logMax === undefined
    ? ""
    : ` to stay under ${humanBytes(job.logMax)}`;
  const what = {
    rotated: `note: ${
      safe(path)
    }: the log was rotated${cap}; earlier output may have been dropped`,
    // The output goes on after a gap, maybe mid-line: said where it
    // happens, or the bytes on each side of it read as one stream.
    dropped: `warning: ${
      safe(path)
    }: output may have been dropped by the log cap before it could be read`,
    // As tail -F says it; the output goes on from the log's start.
    truncated: `warning: ${safe(path)}: log truncated`,
    ignored: `warning: ${safe(path)}: not a regular file; not read`,
  };
  return what[kind] + "\n";
}

/** Turns log bytes into JSON lines, one `{"line": ...}` object per line. */
class JsonLines {
  #decoder = new TextDecoder();
  #carry = "";

  async push(chunk: Uint8Array): Promise<void> {
    const text = this.#carry + this.#decoder.decode(chunk, { stream: true });
    const parts = text.split("\n");
    this.#carry = parts.pop()!;
    if (parts.length > 0) await out(parts.map(lineJson).join(""));
  }

  async flush(): Promise<void> {
    const rest = this.#carry + this.#decoder.decode();
    this.#carry = "";
    if (rest !== "") await out(lineJson(rest));
  }
}

function lineJson(line: string): string {
  return JSON.stringify({ line }) + "\n";
}
