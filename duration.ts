/**
 * Durations as people type them on a command line: Go's format (`90s`,
 * `1h30m`, `500ms`), plus `d` for days. Used by the CLI for `--timeout`,
 * `--grace` and `--older-than`.
 *
 * @example Parse and format
 * ```ts
 * import { formatDuration, parseDuration } from "@epack/detach/duration";
 *
 * console.log(parseDuration("1h30m")); // 5400000
 * console.log(formatDuration(5_400_000)); // 1h30m
 * ```
 *
 * @module
 */

const UNITS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60 * 1000,
  h: 60 * 60 * 1000,
  d: 24 * 60 * 60 * 1000,
};

/**
 * Parses a duration such as `24h`, `1h30m`, `90s`, `500ms`, `2d` or `1.5h`
 * into milliseconds. A bare `0` is allowed; any other number needs a unit.
 *
 * @param text The duration.
 * @returns Milliseconds, a whole non-negative number.
 * @throws {RangeError} If the text is not a duration.
 *
 * @example Parse
 * ```ts
 * import { parseDuration } from "@epack/detach/duration";
 *
 * console.log(parseDuration("2m30s")); // 150000
 * ```
 */
export function parseDuration(text: string): number {
  const s = text.trim();
  if (s === "0") return 0;
  const part = /(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)/y;
  let total = 0;
  let at = 0;
  while (at < s.length) {
    part.lastIndex = at;
    const m = part.exec(s);
    if (m === null) break;
    total += Number(m[1]) * UNITS[m[2]];
    at = part.lastIndex;
  }
  if (s.length === 0 || at !== s.length || !Number.isFinite(total)) {
    throw new RangeError(
      `Invalid duration: ${
        JSON.stringify(text)
      } (use a form like 90s, 1h30m or 500ms)`,
    );
  }
  return Math.round(total);
}

/**
 * Formats milliseconds the way {@linkcode parseDuration} reads them, with at
 * most the two largest units (`1h30m`, `2d3h`, `45s`, `250ms`).
 *
 * @param ms Milliseconds.
 * @returns The short form.
 *
 * @example Format
 * ```ts
 * import { formatDuration } from "@epack/detach/duration";
 *
 * console.log(formatDuration(90_000)); // 1m30s
 * ```
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  // A timeout of 1.5 s should not read as "1s" in an error message.
  if (ms < 60_000 && ms % 1000 !== 0) {
    return `${Number((ms / 1000).toFixed(3))}s`;
  }
  const parts: string[] = [];
  let rest = Math.floor(ms / 1000);
  for (
    const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], [
      "s",
      1,
    ]] as const
  ) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0 || (parts.length > 0 && parts.length < 2)) {
      parts.push(`${n}${unit}`);
    }
    if (parts.length === 2) break;
  }
  // "1h0m" reads worse than "1h".
  return parts.filter((p, i) => i === 0 || !p.startsWith("0")).join("");
}
