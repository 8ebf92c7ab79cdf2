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

/** A digest as the index and the CLI write them. */
export const DIGEST = /^sha256:[0-9a-f]{64}$/;

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
