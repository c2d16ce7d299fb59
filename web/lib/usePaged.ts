"use client";
// A cursor-paginated list for a page: the first page, then "More" appends the next one. A reload
// keeps the rows on screen until the new first page arrives (no flash on live refreshes).
import { useCallback, useEffect, useRef, useState } from "react";
import { api, ApiError } from "./api";
import type { Page } from "./types";

export type Paged<T> = {
  items: T[] | null;
  error: ApiError | null;
  loading: boolean;
  hasMore: boolean;
  more: () => void;
  reload: () => void;
};

function withCursor(path: string, cursor: string): string {
  return `${path}${path.includes("?") ? "&" : "?"}cursor=${encodeURIComponent(cursor)}`;
}

function asApiError(e: unknown): ApiError {
  return e instanceof ApiError ? e : new ApiError(0, "Error", String(e));
}

export function usePaged<T>(path: string | null): Paged<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [cursor, setCursor] = useState<string | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  const [loading, setLoading] = useState(path !== null);
  const [generation, setGeneration] = useState(0);
  const current = useRef(path);
  current.current = path;
  const shown = useRef<string | null>(null);

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    if (shown.current !== path) setItems(null); // another list (e.g. new filters): do not show the old rows
    shown.current = path;
    setLoading(true);
    api<Page<T>>(path, { signal: controller.signal })
      .then((page) => {
        setItems(page.items);
        setCursor(page.next_cursor);
        setError(null);
      })
      .catch((e: unknown) => {
        if (!controller.signal.aborted) setError(asApiError(e));
      })
      .finally(() => {
        if (!controller.signal.aborted) setLoading(false);
      });
    return () => controller.abort();
  }, [path, generation]);

  const more = useCallback(() => {
    if (!path || !cursor) return;
    setLoading(true);
    api<Page<T>>(withCursor(path, cursor))
      .then((page) => {
        if (current.current !== path) return;
        setItems((old) => [...(old ?? []), ...page.items]);
        setCursor(page.next_cursor);
        setError(null);
      })
      .catch((e: unknown) => setError(asApiError(e)))
      .finally(() => setLoading(false));
  }, [path, cursor]);

  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  return { items, error, loading, hasMore: cursor !== null, more, reload };
}
