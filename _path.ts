// The few POSIX path operations the library needs, without node:path: that
// module costs about 6 ms at every start (most of it its Windows half), and
// every job's supervisor and every CLI command would pay it.

/**
 * Joins path segments with `/` and normalises the result (`.` and `..`
 * segments, repeated slashes). Empty segments are skipped.
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/**
 * An absolute, normalised path: the segments taken from right to left until
 * one is absolute, then from the cwd.
 */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= 0 && !path.startsWith("/"); i--) {
    if (parts[i] === "") continue;
    path = path === "" ? parts[i] : `${parts[i]}/${path}`;
  }
  if (!path.startsWith("/")) path = `${Deno.cwd()}/${path}`;
  // Unlike join(), resolve() drops a trailing slash, as node:path does.
  const out = normalize(path);
  return out.length > 1 && out.endsWith("/") ? out.slice(0, -1) : out;
}

/**
 * The directory part of a path, as POSIX `dirname` gives it (for paths
 * without repeated slashes inside, which is all the library makes).
 */
export function dirname(path: string): string {
  const trimmed = path.length > 1 ? path.replace(/\/+$/, "") : path;
  const slash = trimmed.lastIndexOf("/");
  if (slash < 0) return ".";
  if (slash === 0) return "/";
  return trimmed.slice(0, slash).replace(/\/+$/, "") || "/";
}

function normalize(path: string): string {
  const absolute = path.startsWith("/");
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!absolute) out.push("..");
      continue;
    }
    out.push(segment);
  }
  let body = out.join("/");
  // A trailing slash says "a directory", and is kept, as node:path does.
  if (body !== "" && path.endsWith("/")) body += "/";
  if (absolute) return `/${body}`;
  return body === "" ? "." : body;
}
