// What each store can do, declared once: the stores themselves report it
// (JobStore.capabilities), and a caller that has only a store's name can
// tell what it will be able to do before anything is opened or connected.

import type { StoreCapabilities } from "./contract.ts";

/** A jobs directory. */
export const FILE_STORE_CAPABILITIES: StoreCapabilities = Object.freeze({
  localRecords: true,
  sharedByHosts: false,
  scheduling: true,
});

/** A PostgreSQL database shared by hosts. */
export const POSTGRES_STORE_CAPABILITIES: StoreCapabilities = Object.freeze({
  localRecords: false,
  sharedByHosts: true,
  scheduling: false,
});

/**
 * Whether a store name is a PostgreSQL URL.
 *
 * @param name A path or URL.
 * @returns `true` for `postgres://` and `postgresql://` URLs.
 */
export function isPostgresUrl(name: string): boolean {
  return /^postgres(ql)?:\/\//i.test(name);
}

/**
 * What the store a name opens can do, known without opening it.
 *
 * @param name A jobs directory or a `postgres://` URL.
 * @returns Its capabilities.
 */
export function capabilitiesOf(name: string): StoreCapabilities {
  return isPostgresUrl(name)
    ? POSTGRES_STORE_CAPABILITIES
    : FILE_STORE_CAPABILITIES;
}
