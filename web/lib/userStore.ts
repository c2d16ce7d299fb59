// Where the signed-in user (tokens) is kept: IndexedDB, shared by every tab of the app.
// Not localStorage: Chromium propagates a localStorage write to other tabs' processes asynchronously,
// so a tab taking over the renewal lock right after another tab stored a rotated refresh token could
// still read the old one and send it again (seen against oidc-provider: invalid_grant, then the whole
// grant revoked). An IndexedDB transaction begun after another tab's committed one sees its writes.
import { WebStorageStateStore, type StateStore } from "oidc-client-ts";

const DB = "happening-auth";
const STORE = "user";

export class IndexedDbStateStore implements StateStore {
  private db: Promise<IDBDatabase> | null = null;

  private open(): Promise<IDBDatabase> {
    this.db ??= new Promise<IDBDatabase>((resolve, reject) => {
      const request = indexedDB.open(DB, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error ?? new Error("IndexedDB unavailable"));
    }).catch((error: unknown) => {
      this.db = null;
      throw error;
    });
    return this.db;
  }

  /** Runs `work` in one transaction; resolves with its last request's result once committed. */
  private async run<T>(mode: IDBTransactionMode, work: (store: IDBObjectStore) => IDBRequest<T>): Promise<T> {
    const db = await this.open();
    return new Promise<T>((resolve, reject) => {
      const transaction = db.transaction(STORE, mode);
      const request = work(transaction.objectStore(STORE));
      transaction.oncomplete = () => resolve(request.result);
      transaction.onerror = () => reject(transaction.error ?? new Error("IndexedDB transaction failed"));
      transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  async set(key: string, value: string): Promise<void> {
    await this.run("readwrite", (store) => store.put(value, key));
  }

  async get(key: string): Promise<string | null> {
    const value = await this.run<unknown>("readonly", (store) => store.get(key));
    if (typeof value === "string") return value;
    // signed in before the user moved here: oidc-client-ts' WebStorageStateStore prefixes "oidc."
    const legacy = window.localStorage.getItem(`oidc.${key}`);
    if (legacy === null) return null;
    await this.set(key, legacy);
    window.localStorage.removeItem(`oidc.${key}`);
    return legacy;
  }

  async remove(key: string): Promise<string | null> {
    const db = await this.open();
    return new Promise<string | null>((resolve, reject) => {
      const transaction = db.transaction(STORE, "readwrite");
      const store = transaction.objectStore(STORE);
      const read = store.get(key);
      read.onsuccess = () => store.delete(key);
      transaction.oncomplete = () => resolve(typeof read.result === "string" ? read.result : null);
      transaction.onerror = () => reject(transaction.error ?? new Error("IndexedDB transaction failed"));
      transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
    });
  }

  async getAllKeys(): Promise<string[]> {
    const keys = await this.run("readonly", (store) => store.getAllKeys());
    return keys.map(String);
  }
}

/** IndexedDB where the browser has it, else localStorage. */
export function userStore(): StateStore {
  return typeof indexedDB !== "undefined"
    ? new IndexedDbStateStore()
    : new WebStorageStateStore({ store: window.localStorage });
}
