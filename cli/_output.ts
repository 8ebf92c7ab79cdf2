// What the CLI prints, done once: quoting for a shell, escaping control
// characters, tables, the terminal's width, colour (never off a terminal or
// with NO_COLOR), times for people, and writing whole buffers.

import { formatDuration } from "../duration.ts";
import { readEnv } from "../util/permissions.ts";

/** Whether colour may be used on a stream: a terminal, and no NO_COLOR. */
export function colorEnabled(stream: { isTerminal(): boolean }): boolean {
  return stream.isTerminal() && readEnv("NO_COLOR") === undefined;
}

/** Wraps text in an ANSI colour code when `on` is true. */
export function paint(on: boolean, code: number, text: string): string {
  return on ? `\x1b[${code}m${text}\x1b[0m` : text;
}

/** The columns of the terminal a stream writes to; undefined off one. */
export function terminalWidth(
  stream: { isTerminal(): boolean } = Deno.stdout,
): number | undefined {
  if (!stream.isTerminal()) return undefined;
  try {
    // A pseudo-terminal nobody sized says 0: as good as unknown.
    return Deno.consoleSize().columns || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Quotes a word for a POSIX shell, only when it needs it. A word with
 * control or formatting characters is written as `$'...'` (POSIX.1-2024,
 * bash, zsh, ksh) with those escaped, so that a pasted line stays one line
 * and shows what runs.
 */
export function shellQuote(word: string): string {
  if (word === "") return "''";
  if (/^[\w@%+=:,./-]+$/.test(word)) return word;
  if (safe(word) === word) return `'${word.replaceAll("'", `'\\''`)}'`;
  let quoted = "";
  for (const ch of word) {
    if (ch === "\\" || ch === "'") quoted += `\\${ch}`;
    else if (ch === "\n") quoted += "\\n";
    else if (ch === "\t") quoted += "\\t";
    else if (safe(ch) === ch) quoted += ch;
    else {
      for (const byte of new TextEncoder().encode(ch)) {
        quoted += `\\x${byte.toString(16).padStart(2, "0")}`;
      }
    }
  }
  return `$'${quoted}'`;
}

/** Words as one shell command line. */
export function shellLine(words: readonly string[]): string {
  return words.map(shellQuote).join(" ");
}

/**
 * Escapes control characters, so a record cannot move the cursor, clear
 * the screen or break a table row when it is printed.
 */
export function safe(text: string): string {
  let result = "";
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (isFormatting(c)) result += `\\u{${c.toString(16)}}`;
    else if (c >= 0x20 && (c < 0x7f || c >= 0xa0)) result += ch;
    else if (ch === "\n") result += "\\n";
    else if (ch === "\t") result += "\\t";
    else result += `\\x${c.toString(16).padStart(2, "0")}`;
  }
  return result;
}

/**
 * Characters that reorder or break the text around them on a terminal: the
 * bidirectional controls (which can make a command line read differently
 * from what runs) and the Unicode line and paragraph separators.
 */
function isFormatting(c: number): boolean {
  return (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) ||
    c === 0x200e || c === 0x200f || c === 0x061c || c === 0x2028 ||
    c === 0x2029;
}

/** A message on one line: lines trimmed and joined by a space. */
export function oneLine(text: string): string {
  return text.split("\n").map((s) => s.trim()).filter(Boolean).join(" ");
}

/** Cuts text to `width` characters, marking the cut with "…". */
export function truncate(text: string, width: number): string {
  return text.length <= width ? text : text.slice(0, width - 1) + "…";
}

/**
 * Lays rows out in columns two spaces apart; the last column is not padded.
 * The first row is usually the header. `shrink` cuts one column to a width;
 * `style` styles a cell after its width is measured (colour).
 */
export function formatTable(
  rows: readonly string[][],
  options: {
    shrink?: { column: number; width: number };
    style?: (text: string, row: number, column: number) => string;
  } = {},
): string[] {
  if (rows.length === 0) return [];
  const { shrink, style } = options;
  const cells = rows.map((r) =>
    r.map((cell, c) =>
      shrink !== undefined && c === shrink.column
        ? truncate(cell, shrink.width)
        : cell
    )
  );
  const widths = cells[0].map((_, c) =>
    Math.max(...cells.map((r) => r[c].length))
  );
  return cells.map((r, i) =>
    r.map((cell, c) => {
      const styled = style ? style(cell, i, c) : cell;
      return c === r.length - 1
        ? styled
        : styled + " ".repeat(widths[c] - cell.length);
    }).join("  ")
  );
}

/** An elapsed time to read at a glance: "250ms", "8.2s", "1m30s". */
export function humanDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 10_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  return formatDuration(Math.floor(ms / 1000) * 1000);
}

const AGO = { d: 86400, h: 3600, m: 60, s: 1 };

/**
 * How long ago, in the largest unit that fits, in the style of every
 * duration the CLI prints: "just now", "45s ago", "3m ago", "2d ago".
 */
export function relativeTime(date: Date, now: number): string {
  const seconds = Math.floor((now - date.getTime()) / 1000);
  for (const [unit, size] of Object.entries(AGO)) {
    if (seconds >= size) return `${Math.floor(seconds / size)}${unit} ago`;
  }
  return "just now";
}

/** Local wall-clock time, `YYYY-MM-DD HH:MM:SS`. */
export function localTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${
    p(d.getHours())
  }:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

const encoder = new TextEncoder();

/** Writes all of `data`, however many writes it takes. */
export async function writeAll(
  w: { write(p: Uint8Array): Promise<number> },
  data: Uint8Array,
): Promise<void> {
  let off = 0;
  while (off < data.length) off += await w.write(data.subarray(off));
}

/** Writes all of `text` now; a stream that is gone is ignored. */
export function writeSync(
  stream: { writeSync(p: Uint8Array): number },
  text: string,
): void {
  const data = encoder.encode(text);
  try {
    let n = 0;
    while (n < data.length) n += stream.writeSync(data.subarray(n));
  } catch {
    // Nowhere left to write to (a closed pipe).
  }
}

/** Prints text on stdout, as is. */
export async function out(text: string): Promise<void> {
  await writeAll(Deno.stdout, encoder.encode(text));
}

/** Prints a value as JSON on stdout, on one line (one per job acted on). */
export async function outJson(value: unknown): Promise<void> {
  await out(JSON.stringify(value) + "\n");
}

/** Prints a line on stderr. */
export async function warn(line: string): Promise<void> {
  await writeAll(Deno.stderr, encoder.encode(line + "\n"));
}
