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
  let url: URL;
  try {
    url = new URL(name);
  } catch {
    return name;
  }
  if (url.password === "") return name;
  url.password = "***";
  return url.href;
}
