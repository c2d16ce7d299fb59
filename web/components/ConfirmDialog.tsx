"use client";
// A modal question before a change that cannot be undone; "Confirm" goes ahead.
import { useEffect, useRef, type ReactNode } from "react";

type Props = { open: boolean; title: string; children?: ReactNode; busy?: boolean; onConfirm: () => void; onClose: () => void };

export default function ConfirmDialog({ open, title, children, busy, onConfirm, onClose }: Props) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby="confirm-title" onClose={onClose} onCancel={onClose}>
      <h2 id="confirm-title">{title}</h2>
      {children}
      <div className="actions">
        <button type="button" onClick={onConfirm} disabled={busy}>Confirm</button>
        <button type="button" className="secondary" onClick={onClose} disabled={busy}>Keep it</button>
      </div>
    </dialog>
  );
}
