// The supervisor's own lines in a job's log: a retry's marker between two
// attempts, and the end hook's start and end. They go through O_APPEND, as
// the worker's output does, so they land after whatever was written before
// them and never over it.

/** What starts each of the supervisor's lines in a job's log. */
export const LOG_NOTE_PREFIX = "[@epack/detach]";

/**
 * Appends `[@epack/detach] <text>` as a line of its own to the log: after a
 * newline first if the log does not end in one (a worker's last line without
 * its newline stays a line of its own). Best effort: a log that cannot be
 * written (or is gone, with its job) does not stop the supervisor, and a
 * log that is gone is not made anew.
 *
 * @param logPath The job's log.
 * @param text The note, on one line.
 */
export async function appendLogNote(
  logPath: string,
  text: string,
): Promise<void> {
  try {
    using file = await Deno.open(logPath, { append: true, read: true });
    const size = (await file.stat()).size;
    let lead = "";
    if (size > 0) {
      const last = new Uint8Array(1);
      await file.seek(size - 1, Deno.SeekMode.Start);
      if ((await file.read(last)) === 1 && last[0] !== 0x0a) lead = "\n";
    }
    // O_APPEND writes at the end whatever the position the seek left.
    const line = `${lead}${LOG_NOTE_PREFIX} ${oneLine(text)}\n`;
    const bytes = new TextEncoder().encode(line);
    let written = 0;
    while (written < bytes.length) {
      written += await file.write(bytes.subarray(written));
    }
  } catch {
    // The record still says how the job went.
  }
}

/** Keeps a note on one line: line breaks and other controls shown escaped. */
function oneLine(text: string): string {
  const named: Record<string, string> = { "\n": "n", "\r": "r", "\t": "t" };
  // deno-lint-ignore no-control-regex
  const controls = /[\x00-\x1f\x7f]/g;
  return text.replace(
    controls,
    (c) =>
      `\\${named[c] ?? `x${c.charCodeAt(0).toString(16).padStart(2, "0")}`}`,
  );
}

/**
 * Says `text` on the supervisor's stderr, which is usually /dev/null (so
 * never fails on it): for what a person running it by hand should see.
 */
export function warn(text: string): void {
  try {
    Deno.stderr.writeSync(
      new TextEncoder().encode(`@epack/detach supervisor: ${text}\n`),
    );
  } catch {
    // Nowhere to say it.
  }
}
