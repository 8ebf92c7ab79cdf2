// A store's name as it may be shown: a URL's password replaced by `***`.
// The one place that decides it, for messages, hints and locations.

/**
 * A store name fit to print: a `postgres://` URL with its password hidden;
 * anything else as it is.
 *
 * @param name A jobs directory or a URL.
 * @returns The name without a secret.
 */
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
 * Refuses a store name that looks like a URL but is not a `postgres://` one
 * (`postgress://…`, `postgres:/…`, `https://…`): taken for a jobs directory,
 * it would be made on disk, and printed, password and all.
 *
 * @param name A store name that is not a PostgreSQL URL.
 * @throws {TypeError} If it looks like a URL; the message hides its secret.
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
