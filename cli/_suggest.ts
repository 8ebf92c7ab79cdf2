// "Did you mean ...?" for an unknown command, subcommand or option.

/** Words other tools use, and the subcommand of `jobs` that does that. */
export const SYNONYMS: Readonly<Record<string, string>> = {
  stop: "cancel",
  kill: "cancel",
  ls: "list",
  ps: "list",
  remove: "rm",
  delete: "rm",
  log: "logs",
  tail: "logs",
  rerun: "restart",
  retry: "restart",
  info: "show",
  inspect: "show",
  status: "show",
};

/**
 * The valid word nearest to `word`: its synonym, else the one fewest edits
 * away (at most a third of its length, at least one).
 */
export function closest(
  word: string,
  valid: readonly string[],
): string | undefined {
  const synonym = Object.hasOwn(SYNONYMS, word) ? SYNONYMS[word] : undefined;
  if (synonym !== undefined && valid.includes(synonym)) return synonym;
  const most = Math.max(1, Math.floor(word.length / 3));
  let best: string | undefined;
  let bestDistance = most + 1;
  for (const candidate of valid) {
    const d = distance(word, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

// Edit distance with swaps of neighbours (optimal string alignment).
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(
        d[i - 1][j] + 1,
        d[i][j - 1] + 1,
        d[i - 1][j - 1] + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}
