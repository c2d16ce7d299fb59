// A labelled form control with its hint and its error message, tied together for screen readers
// (aria-invalid, aria-describedby), so a problem's `detail` is read out with the field it names.
import type { ReactNode } from "react";
import FieldError from "./FieldError";

export type ControlProps = { id: string; "aria-invalid"?: true; "aria-describedby"?: string };

type Props = { id: string; label: string; error?: string; hint?: ReactNode; children: (props: ControlProps) => ReactNode };

export default function Field({ id, label, error, hint, children }: Props) {
  const described = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(" ");
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({ id, "aria-invalid": error ? true : undefined, "aria-describedby": described || undefined })}
      {hint && <p id={`${id}-hint`} className="hint">{hint}</p>}
      <FieldError id={`${id}-error`} message={error} />
    </div>
  );
}
