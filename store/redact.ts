// A store's name as it may be shown: a URL's password replaced by `***`.

/** A store name fit to print: a URL's password hidden. */
export function redact(name: string): string {
  let url: URL | undefined;
  try {
    url = new URL(name);
  } catch {
    // Not a URL: a mistyped one may still hold `user:password@`.
  }
  if (url !== undefined && url.password !== "") {
    url.password = "***";
    return url.href;
  }
  return name.replace(/([^\s/:@]*):[^\s/@]*@/g, "$1:***@");
}

/**
 * Refuses a name that looks like a URL but is not a `postgres://` one
 * (`postgress://…`): as a jobs directory it would be made, and printed.
 */
export function refuseUrlLike(name: string): void {
  if (/^[A-Za-z][A-Za-z0-9+.-]*:(\/\/|[^/]*@|\/[^/]*@)/.test(name)) {
    throw new TypeError(
      `Not a jobs directory nor a postgres:// URL: ${
        redact(name)
      } (a database store is postgres://user@host/db)`,
    );
  }
}
