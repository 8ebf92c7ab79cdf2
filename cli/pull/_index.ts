// Reading a registry's index.json (bounded) and validating every entry, so
// that a registry's mistakes show at once, not on the day an entry is chosen.

import { describe } from "../../spawn/errors.ts";
import {
  DIGEST,
  type PackEntry,
  RegistryError,
  type RegistrySource,
} from "./_registry.ts";

const RFC3339 =
  /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
// Name and version make the default output file name, so they must not be
// able to say anything about directories.
const FILE_PART = /^[A-Za-z0-9_+@][A-Za-z0-9._+@~-]{0,127}$/;

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
