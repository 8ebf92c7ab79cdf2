// `epack jobs logs <id> [-f] [-n N]`: print a job's log, and with -f what it
// writes until it ends, on the library's log reader (logs.ts).

import { followLog, jobLogPath, readLog } from "../../logs.ts";
import { CliError, EXIT, usageError } from "../_errors.ts";
import { out, safe, writeAll, writeSync } from "../_output.ts";
import { type JobsContext, oneJobId } from "./_context.ts";

/** Runs `jobs logs`. */
export async function logs(ctx: JobsContext): Promise<number> {
  const linesText = ctx.values.lines;
  let lines: number | undefined;
  if (typeof linesText === "string") {
    if (!/^\d+$/.test(linesText) || !Number.isSafeInteger(+linesText)) {
      throw usageError(
        `Invalid -n value ${
          JSON.stringify(linesText)
        }: use a whole number of lines`,
        ctx.command,
      );
    }
    lines = Number(linesText);
  }
  const id = await oneJobId(ctx);
  const { store } = ctx;
  const path = jobLogPath(store, await store.load(id));
  const options = {
    jobsDir: store.dir,
    ...(lines !== undefined ? { lines } : {}),
    onTruncated: () => {
      // As tail -F says it; the output goes on from the log's start.
      writeSync(Deno.stderr, `warning: ${safe(path)}: log truncated\n`);
    },
  };
  const chunks = ctx.values.follow === true
    ? followLog(id, options)
    : readLog(id, options);
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
