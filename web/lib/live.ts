"use client";
// Live updates: a Server-Sent Events stream read with fetch, so the bearer token travels in a header
// (never in a URL); reconnects with backoff, with a fresh token each time.
import { createParser, type EventSourceMessage } from "eventsource-parser";
import { useEffect, useRef } from "react";
import { authHeaders } from "./api";

export type LiveMessage = { event: string; data: unknown };

const MAX_BACKOFF_MS = 10_000;

/** Open `path` as an event stream while the component is mounted; `onMessage` gets each message. */
export function useLive(path: string | null, onMessage: (message: LiveMessage) => void): void {
  const handler = useRef(onMessage);
  handler.current = onMessage;

  useEffect(() => {
    if (path === null) return;
    const controller = new AbortController();
    let backoff = 500;

    async function connect(): Promise<"stop" | "retry"> {
      const response = await fetch(path as string, {
        headers: { Accept: "text/event-stream", ...(await authHeaders()) },
        signal: controller.signal,
        cache: "no-store",
      });
      if (response.status === 404 || response.status === 403) return "stop"; // nothing to follow
      if (!response.ok || !response.body) throw new Error(`stream: HTTP ${response.status}`);
      backoff = 500;
      const parser = createParser({
        onEvent(message: EventSourceMessage) {
          try {
            handler.current({ event: message.event ?? "message", data: JSON.parse(message.data) });
          } catch {
            // a message we cannot read is skipped; the next one carries the whole state again
          }
        },
      });
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return "retry";
        parser.feed(value);
      }
    }

    async function run(): Promise<void> {
      while (!controller.signal.aborted) {
        try {
          if ((await connect()) === "stop") return;
        } catch {
          if (controller.signal.aborted) return;
        }
        await new Promise((resolve) => setTimeout(resolve, backoff));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    }

    void run();
    return () => controller.abort();
  }, [path]);
}
