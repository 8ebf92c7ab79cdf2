// What each store can do, declared once, and known from a store's name
// before anything is opened.

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

/** Whether a store name is a `postgres://` or `postgresql://` URL. */
export function isPostgresUrl(name: string): boolean {
  return /^postgres(ql)?:\/\//i.test(name);
}

/** What the store a name opens can do. */
export function capabilitiesOf(name: string): StoreCapabilities {
  return isPostgresUrl(name)
    ? POSTGRES_STORE_CAPABILITIES
    : FILE_STORE_CAPABILITIES;
}
