"use client";
// A dynamic segment's value, read from the address: the static export has one page per route with
// `_` standing for the segment (see api/webapp.py), so the router's params say `_`.
import { usePathname } from "next/navigation";

export function usePathSegment(index: number): string {
  const parts = usePathname().split("/").filter(Boolean);
  return decodeURIComponent(parts[index] ?? "");
}
