// The registry client: where a registry is, reading and validating its
// index.json, choosing a pack, and finding the pack's bytes without ever
// leaving the registry.
//
// A registry is a static directory holding `index.json`; pack paths in the
// index are relative to it. The same rules apply to every kind of registry:
// a path is a relative URL reference, resolved against the index's URL, and
// the result must stay inside the index's directory (and, over HTTP, on the
// index's origin; on disk, after symlinks are followed).

import { dirname, fromFileUrl, resolve, toFileUrl } from "../../util/path.ts";
import { describe } from "../../spawn/errors.ts";
import type { PullOptions } from "../../flags.ts";
import { redact } from "../../store/redact.ts";

/** One pack listed in a registry's index. */
export interface PackEntry {
  /** The pack's name, for example `acme-api`. */
  name: string;
  /** The workspace it belongs to ("" when the index gives none). */
  workspace: string;
  /** Its environment, for example `prod` ("" when the index gives none). */
  environment: string;
  /** Its version, for example `v1.2.3`. */
  version: string;
  /** Its release ID, `rel_…` ("" when the index gives none). */
  release: string;
  /** `sha256:<64 lowercase hex digits>`. */
  digest: string;
  /** Its size in bytes, when the index gives it. */
  size?: number;
  /** Where it is, relative to the index. */
  path: string;
  /** When it was published, as the index writes it (RFC 3339). */
  publishedAt: string;
  /** `publishedAt` in milliseconds since the epoch. */
  publishedMs: number;
  /** Its position in the index's `packs` list. */
  index: number;
}

/** Where a registry is. */
export type RegistrySource =
  | {
    kind: "file";
    /** The remote as the user gave it. */
    remote: string;
    /** The registry's directory (absolute). */
    root: string;
    /** The index file (absolute). */
    indexPath: string;
  }
  | {
    kind: "http";
    /** The remote as the user gave it, without its credentials. */
    remote: string;
    /** The index's URL (never with credentials). */
    indexUrl: URL;
    /** The `Authorization` header for the registry's origin, if any. */
    auth?: string;
  };

/** Where a chosen pack's bytes are. */
export type PackLocation =
  | { kind: "file"; path: string; display: string }
  | { kind: "http"; url: URL; display: string; auth?: string };

/** The environment variable naming a detached pull's credentials file. */
export const PULL_AUTH_ENV = "EPACK_PULL_AUTH_FILE";

/**
 * Takes the credentials out of an http(s) registry URL
 * (`https://user:pass@host/`), so that they never reach a command line, a
 * record, a listing or a log: the URL that is shown and passed on has none.
 *
 * @returns The URL without them, and `user:pass` if it had any.
 */
export function splitCredentials(
  remote: string,
): { remote: string; userinfo?: string } {
  if (!/^https?:\/\//i.test(remote)) return { remote };
  let url: URL;
  try {
    url = new URL(remote);
  } catch {
    return { remote: redact(remote) };
  }
  if (url.username === "" && url.password === "") return { remote };
  const userinfo = `${decodeURIComponent(url.username)}:${
    decodeURIComponent(url.password)
  }`;
  url.username = url.password = "";
  return { remote: url.href, userinfo };
}

/** The HTTP Basic `Authorization` header of `user:pass`. */
function basicAuth(userinfo: string): string {
  const bytes = new TextEncoder().encode(userinfo);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

/** The filters of a pull; every one given must match. */
export type PackCriteria = Pick<
  PullOptions,
  "version" | "releaseId" | "digest" | "workspace" | "env"
>;

/** An error in the registry or its index: a failure, exit 1. */
export class RegistryError extends Error {
  override get name(): string {
    return "RegistryError";
  }
}

/** No pack matched the criteria; carries what the registry has. */
export class NoMatchError extends RegistryError {
  /** Every pack of the registry, newest first. */
  readonly available: PackEntry[];
  constructor(message: string, available: PackEntry[]) {
    super(message);
    this.available = available;
  }
  override get name(): string {
    return "NoMatchError";
  }
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;
const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// Name and version make the default output file name, so they must not be
// able to say anything about directories.
const FILE_PART = /^[A-Za-z0-9_+@][A-Za-z0-9._+@~-]{0,127}$/;

/** Whether a text is a digest as the index and the CLI write them. */
export function isDigest(text: string): boolean {
  return DIGEST.test(text.toLowerCase());
}

/**
 * Works out where a registry is from what the user typed: an `http(s)://`
 * URL, a `file://` URL, or a local path. A URL or path naming a `.json` file
 * is taken as the index itself; otherwise the index is `index.json` inside.
 *
 * @throws {RegistryError} For a URL scheme other than http, https or file.
 */
export function parseRemote(
  remote: string,
  cwd: string = Deno.cwd(),
  userinfo?: string,
): RegistrySource {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(remote)?.[1]
    ?.toLowerCase();
  if (scheme === "http" || scheme === "https") {
    let url: URL;
    try {
      url = new URL(remote);
    } catch {
      throw new RegistryError(`Invalid registry URL: ${remote}`);
    }
    url.hash = "";
    if (!url.pathname.endsWith(".json")) {
      if (!url.pathname.endsWith("/")) url.pathname += "/";
      url = new URL("index.json", url);
    }
    return {
      kind: "http",
      remote,
      indexUrl: url,
      ...(userinfo === undefined ? {} : { auth: basicAuth(userinfo) }),
    };
  }
  let path: string;
  if (scheme === "file") {
    try {
      path = fromFileUrl(remote);
    } catch (err) {
      throw new RegistryError(
        `Invalid file URL: ${remote} (${(err as Error).message})`,
      );
    }
  } else if (scheme !== undefined) {
    throw new RegistryError(
      `Unsupported registry URL scheme "${scheme}:" in ${remote} (use http://, https://, file:// or a directory)`,
    );
  } else {
    path = resolve(cwd, remote);
  }
  const indexPath = path.endsWith(".json") ? path : resolve(path, "index.json");
  return { kind: "file", remote, root: dirname(indexPath), indexPath };
}

/** Options for {@linkcode loadIndex}. */
export interface LoadIndexOptions {
  signal?: AbortSignal;
}

/** What {@linkcode loadIndex} read. */
export interface LoadedIndex {
  /** The packs, in index order. */
  entries: PackEntry[];
  /**
   * Where the index was found: over HTTP, the URL after redirects, which
   * pack paths are relative to.
   */
  source: RegistrySource;
}

/**
 * Reads and validates a registry's index. Over HTTP, redirects are
 * followed, and the index's final URL is the registry's: its pack paths
 * resolve against it. A redirect to another origin is refused, as a pack
 * path to another origin is: the registry is what the user named.
 *
 * @throws {RegistryError} If the index cannot be read or is not valid, or
 * it was redirected to another origin.
 */
export async function loadIndex(
  source: RegistrySource,
  options: LoadIndexOptions = {},
): Promise<LoadedIndex> {
  let text: string;
  let where: string;
  if (source.kind === "file") {
    where = source.indexPath;
    try {
      text = await readIndexText(
        (await Deno.open(source.indexPath)).readable,
        where,
      );
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      if (err instanceof Deno.errors.NotFound) {
        throw new RegistryError(
          `No registry at ${source.remote}: ${source.indexPath} does not exist`,
          { cause: err },
        );
      }
      throw new RegistryError(
        `Cannot read the registry index ${source.indexPath}: ${describe(err)}`,
        { cause: err },
      );
    }
  } else {
    where = source.indexUrl.href;
    let res: Response;
    try {
      res = await fetch(source.indexUrl, {
        signal: options.signal,
        headers: {
          accept: "application/json",
          ...(source.auth === undefined ? {} : { authorization: source.auth }),
        },
      });
    } catch (err) {
      if (options.signal?.aborted) throw err;
      throw new RegistryError(
        `Cannot reach the registry at ${where}: ${describe(err)}`,
        { cause: err },
      );
    }
    const final = res.url === "" ? source.indexUrl : new URL(res.url);
    if (final.origin !== source.indexUrl.origin) {
      await res.body?.cancel();
      throw new RegistryError(
        `The registry index ${where} redirects to another origin (${final.href}); give that URL as <remote> if it is the registry`,
      );
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new RegistryError(
        `Cannot fetch the registry index ${where}: HTTP ${res.status} ${res.statusText}`
          .trimEnd(),
      );
    }
    final.hash = "";
    if (final.href !== source.indexUrl.href) {
      source = { ...source, indexUrl: final };
    }
    try {
      text = await readIndexText(res.body, where);
    } catch (err) {
      if (options.signal?.aborted || err instanceof RegistryError) throw err;
      throw new RegistryError(
        `Cannot read the registry index ${where}: ${describe(err)}`,
        { cause: err },
      );
    }
  }
  return { entries: parseIndex(text, where), source };
}

/**
 * The largest registry index read, in bytes (64 MiB): some hundred thousand
 * packs. A bigger one is refused rather than read into memory whole.
 */
export const MAX_INDEX_BYTES = 64 * 1024 * 1024;

/** Reads an index's bytes as text, refusing more than {@linkcode MAX_INDEX_BYTES}. */
async function readIndexText(
  body: ReadableStream<Uint8Array> | null,
  where: string,
): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body ?? []) {
    size += chunk.length;
    // Leaving the loop cancels the stream.
    if (size > MAX_INDEX_BYTES) {
      throw new RegistryError(
        `The registry index ${where} is larger than ${
          MAX_INDEX_BYTES / 1024 / 1024
        } MiB; refused`,
      );
    }
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) bytes.set(c, (at += c.length) - c.length);
  return new TextDecoder().decode(bytes);
}

/**
 * Validates the text of an index.json. Every entry must be valid: one bad
 * entry makes the whole index unusable, so a registry's mistakes show at
 * once instead of on the day that entry is chosen.
 *
 * @throws {RegistryError} Naming the entry and the field at fault.
 */
export function parseIndex(text: string, where: string): PackEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new RegistryError(
      `Invalid registry index ${where}: not valid JSON (${
        (err as Error).message
      })`,
    );
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new RegistryError(
      `Invalid registry index ${where}: not a JSON object`,
    );
  }
  const packs = (raw as Record<string, unknown>).packs;
  if (!Array.isArray(packs)) {
    throw new RegistryError(
      `Invalid registry index ${where}: "packs" is missing or not a list`,
    );
  }
  return packs.map((item, i) => parseEntry(item, i, where));
}

function parseEntry(item: unknown, i: number, where: string): PackEntry {
  const at = `packs[${i}]`;
  const bad = (field: string | undefined, reason: string): never => {
    const label = typeof item === "object" && item !== null &&
        typeof (item as Record<string, unknown>).name === "string"
      ? `${at} (${(item as Record<string, unknown>).name})`
      : at;
    throw new RegistryError(
      `Invalid registry index ${where}: ${label}${
        field === undefined ? "" : ` "${field}"`
      } ${reason}`,
    );
  };
  if (typeof item !== "object" || item === null || Array.isArray(item)) {
    return bad(undefined, "is not an object");
  }
  const r = item as Record<string, unknown>;
  const str = (field: string, required: boolean): string => {
    const v = r[field];
    if (v === undefined || v === null) {
      return required ? bad(field, "is missing") : "";
    }
    if (typeof v !== "string") return bad(field, "is not a string");
    if (required && v === "") return bad(field, "is empty");
    return v;
  };
  const name = str("name", true);
  if (!FILE_PART.test(name)) {
    bad("name", `${JSON.stringify(name)} is not a safe pack name`);
  }
  const version = str("version", true);
  if (!FILE_PART.test(version)) {
    bad("version", `${JSON.stringify(version)} is not a safe version`);
  }
  const digest = str("digest", true).toLowerCase();
  if (!DIGEST.test(digest)) {
    bad("digest", "must be sha256: followed by 64 hex digits");
  }
  let size: number | undefined;
  if (r.size !== undefined && r.size !== null) {
    if (
      typeof r.size !== "number" || !Number.isSafeInteger(r.size) || r.size < 0
    ) {
      bad("size", "must be a whole number of bytes");
    }
    size = r.size as number;
  }
  const path = str("path", true);
  const pathProblem = checkRelativePath(path);
  if (pathProblem !== undefined) {
    bad("path", `${JSON.stringify(path)} ${pathProblem}`);
  }
  const publishedAt = str("published_at", true);
  const publishedMs = RFC3339.test(publishedAt) ? Date.parse(publishedAt) : NaN;
  if (Number.isNaN(publishedMs)) {
    bad(
      "published_at",
      `${JSON.stringify(publishedAt)} is not an RFC 3339 time`,
    );
  }
  const entry: PackEntry = {
    name,
    workspace: str("workspace", false),
    environment: str("environment", false),
    version,
    release: str("release", false),
    digest,
    path,
    publishedAt,
    publishedMs,
    index: i,
  };
  if (size !== undefined) entry.size = size;
  return entry;
}

// Cheap checks with clear messages; resolveLocation() checks the result
// again, because URL resolution has its own ideas (%2e%2e is "..").
function checkRelativePath(path: string): string | undefined {
  // URL parsing drops tabs and newlines and trims spaces, which could turn
  // an innocent-looking path into "//other.host/...".
  // deno-lint-ignore no-control-regex -- control characters are the point
  if (/[\x00-\x1f\x7f]/.test(path)) return "holds a control character";
  if (path !== path.trim()) return "starts or ends with a space";
  if (path.includes("\\")) return "holds a backslash (use /)";
  if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(path)) {
    return "is a URL; it must be relative to the index";
  }
  if (path.startsWith("/")) {
    return "is absolute; it must be relative to the index";
  }
  const segments = path.replace(/[?#].*$/s, "").split("/");
  if (segments.some((s) => s === ".." || /^(%2e|\.){2}$/i.test(s))) {
    return "escapes the registry (..)";
  }
  return undefined;
}

/**
 * Chooses the pack to pull: among the entries that match every criterion
 * given, the newest `published_at` wins; on a tie, the one listed first.
 *
 * @throws {NoMatchError} If nothing matches, with what is available.
 */
export function selectPack(
  entries: readonly PackEntry[],
  criteria: PackCriteria,
  where: string,
): PackEntry {
  const digest = criteria.digest?.toLowerCase();
  const matches = entries.filter((e) =>
    (criteria.version === undefined || e.version === criteria.version) &&
    (criteria.releaseId === undefined || e.release === criteria.releaseId) &&
    (digest === undefined || e.digest === digest) &&
    (criteria.workspace === undefined || e.workspace === criteria.workspace) &&
    (criteria.env === undefined || e.environment === criteria.env)
  );
  if (matches.length > 0) return [...matches].sort(newestFirst)[0];
  const asked = describeCriteria(criteria);
  const message = entries.length === 0
    ? `The registry ${where} has no packs`
    : asked === ""
    ? `No pack in ${where}`
    : `No pack in ${where} matches ${asked}`;
  throw new NoMatchError(message, [...entries].sort(newestFirst));
}

/** Says in words what the criteria ask for. */
export function describeCriteria(criteria: PackCriteria): string {
  const parts: string[] = [];
  if (criteria.version !== undefined) parts.push(`version ${criteria.version}`);
  if (criteria.releaseId !== undefined) {
    parts.push(`release ${criteria.releaseId}`);
  }
  if (criteria.digest !== undefined) parts.push(`digest ${criteria.digest}`);
  if (criteria.env !== undefined) parts.push(`environment ${criteria.env}`);
  if (criteria.workspace !== undefined) {
    parts.push(`workspace ${criteria.workspace}`);
  }
  return parts.join(", ");
}

function newestFirst(a: PackEntry, b: PackEntry): number {
  return b.publishedMs - a.publishedMs || a.index - b.index;
}

/**
 * Finds a pack's bytes. The path must stay inside the registry: on disk
 * after every symlink is followed, over HTTP on the index's origin and
 * under the index's directory.
 *
 * Requires `--allow-read` for a registry on disk.
 *
 * @throws {RegistryError} If the path escapes the registry, or the file is
 * missing.
 */
export async function resolveLocation(
  source: RegistrySource,
  entry: PackEntry,
): Promise<PackLocation> {
  const escapes = (detail: string) =>
    new RegistryError(
      `Refusing pack ${entry.name} ${entry.version}: its path ${
        JSON.stringify(entry.path)
      } ${detail}`,
    );
  if (source.kind === "http") {
    const url = new URL(entry.path, source.indexUrl);
    if (url.origin !== source.indexUrl.origin) {
      throw escapes(`points to another origin (${url.origin})`);
    }
    const base = source.indexUrl.pathname.replace(/[^/]*$/, "");
    if (!url.pathname.startsWith(base)) {
      throw escapes("escapes the registry");
    }
    url.hash = "";
    return { kind: "http", url, display: url.href, auth: source.auth };
  }
  const url = new URL(entry.path, toFileUrl(source.indexPath));
  if (url.protocol !== "file:") throw escapes("is not a file path");
  const lexical = fromFileUrl(url);
  if (!inside(source.root, lexical)) throw escapes("escapes the registry");
  let real: string;
  let realRoot: string;
  try {
    realRoot = await Deno.realPath(source.root);
    real = await Deno.realPath(lexical);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      throw new RegistryError(
        `Pack ${entry.name} ${entry.version} is listed but missing: ${lexical}`,
        { cause: err },
      );
    }
    throw new RegistryError(`Cannot read ${lexical}: ${describe(err)}`, {
      cause: err,
    });
  }
  if (!inside(realRoot, real)) {
    throw escapes(`leads outside the registry (to ${real})`);
  }
  return { kind: "file", path: real, display: lexical };
}

/** Whether `path` lies below the directory `root` (both made absolute). */
function inside(root: string, path: string): boolean {
  const dir = resolve(root);
  const full = resolve(path);
  return full !== dir && full.startsWith(dir === "/" ? "/" : `${dir}/`);
}
