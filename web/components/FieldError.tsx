// The server's message for one form field (a problem+json `field`), tied to its input by id.
import type { ApiError } from "@/lib/api";

export function fieldError(error: ApiError | null, field: string): string | undefined {
  return error && error.field === field ? error.detail || error.title : undefined;
}

export default function FieldError({ id, message }: { id: string; message?: string }) {
  return message ? <p id={id} className="field-error" role="alert">{message}</p> : null;
}
