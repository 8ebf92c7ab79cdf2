// The few POSIX path operations the library needs, without node:path: that
// module costs about 6 ms at every start (most of it its Windows half), and
// every job's supervisor and every CLI command would pay it. node:url loads
// node:path too, so the two file URL conversions are here as well.

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

/**
 * The last segment of a path, trailing slashes ignored, as POSIX
 * `basename` gives it ("" for "/" and "").
 */
export function basename(path: string): string {
  const trimmed = path.replace(/\/+$/, "");
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/**
 * A `file:` URL for a path, resolved from the cwd (a trailing slash kept),
 * encoded as node:url's `pathToFileURL` encodes it: every ASCII character
 * that could end or change the path (`%`, `?`, `#`, `\\`, controls and
 * the like) by hand, the rest by the URL parser.
 */
export function toFileUrl(path: string): URL {
  let absolute = resolve(path);
  if (path.endsWith("/") && absolute !== "/") absolute += "/";
  const url = new URL("file:///");
  url.pathname = absolute.replace(
    // deno-lint-ignore no-control-regex -- control characters are the point
    /[\x00-\x20"#%<>?[\\\]^`{|}~\x7f]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`,
  );
  return url;
}

/**
 * The path a `file:` URL names, as node:url's `fileURLToPath` gives it on
 * POSIX: no host but `localhost`, no encoded `/`, the query and fragment
 * ignored.
 *
 * @throws {TypeError} For another scheme, a host, or an encoded `/`.
 */
export function fromFileUrl(url: string | URL): string {
  const u = url instanceof URL ? url : new URL(url);
  if (u.protocol !== "file:") {
    throw new TypeError("The URL must be of scheme file");
  }
  if (u.hostname !== "" && u.hostname !== "localhost") {
    throw new TypeError('File URL host must be "localhost" or empty');
  }
  if (/%2f/i.test(u.pathname)) {
    throw new TypeError("File URL path must not include encoded / characters");
  }
  return decodeURIComponent(u.pathname);
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
