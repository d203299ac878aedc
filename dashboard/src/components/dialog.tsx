/** Modal dialog (Escape and backdrop close it, focus moves in and returns) and a typed confirmation dialog. */
import { useEffect, useId, useRef, useState, type ReactNode } from "react";
import { Alert, Button } from "./ui";
import { messageOf } from "../lib/api";

export function Dialog({ title, description, onClose, children, footer }: { title: string; description?: ReactNode; onClose: () => void; children?: ReactNode; footer?: ReactNode }) {
  const titleId = useId();
  const ref = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const first = ref.current?.querySelector<HTMLElement>("input, select, textarea, button:not([data-close])");
    (first ?? ref.current)?.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") onClose();
      if (e.key === "Tab" && ref.current) {
        const items = [...ref.current.querySelectorAll<HTMLElement>("button:not(:disabled), input:not(:disabled), select, textarea, a[href]")];
        if (!items.length) return;
        const [a, z] = [items[0]!, items[items.length - 1]!];
        if (e.shiftKey && document.activeElement === a) { e.preventDefault(); z.focus(); }
        else if (!e.shiftKey && document.activeElement === z) { e.preventDefault(); a.focus(); }
      }
    };
    document.addEventListener("keydown", onKey);
    return () => {
      document.removeEventListener("keydown", onKey);
      previous?.focus?.();
    };
  }, [onClose]);
  return (
    <div className="dialog-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="dialog" role="dialog" aria-modal="true" aria-labelledby={titleId} ref={ref} tabIndex={-1}>
        <div className="dialog-header">
          <h2 id={titleId}>{title}</h2>
          {description ? <p className="muted" style={{ margin: "6px 0 0" }}>{description}</p> : null}
        </div>
        {children ? <div className="dialog-body">{children}</div> : null}
        {footer ? <div className="dialog-footer">{footer}</div> : null}
      </div>
    </div>
  );
}

/** Asks before a destructive action; optionally requires typing a confirmation word. */
export function ConfirmDialog({
  title, description, confirmLabel, typeToConfirm, onConfirm, onClose, children,
}: {
  title: string; description?: ReactNode; confirmLabel: string; typeToConfirm?: string; onConfirm: () => Promise<unknown>; onClose: () => void; children?: ReactNode;
}) {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const inputId = useId();
  const ok = !typeToConfirm || typed.trim() === typeToConfirm;
  const run = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      onClose();
    } catch (e) {
      setError(messageOf(e));
      setBusy(false);
    }
  };
  return (
    <Dialog
      title={title}
      description={description}
      onClose={onClose}
      footer={
        <>
          <Button onClick={onClose} data-close>Cancel</Button>
          <Button variant="danger" onClick={run} loading={busy} disabled={!ok}>{confirmLabel}</Button>
        </>
      }
    >
      {children}
      {typeToConfirm ? (
        <div className="field">
          <label htmlFor={inputId}>
            Type <code>{typeToConfirm}</code> to confirm
          </label>
          <input id={inputId} type="text" value={typed} onChange={(e) => setTyped(e.target.value)} autoComplete="off" />
        </div>
      ) : null}
      {error ? <Alert>{error}</Alert> : null}
    </Dialog>
  );
}
