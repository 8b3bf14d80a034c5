/**
 * Every modal dialog of the UI, one implementation: `<Dialog>` draws the overlay and the dialog
 * box, and `useDialogFocus` gives it the keyboard habits: focus moves in when it opens, Tab and
 * Shift+Tab stay inside, Escape closes, and focus goes back to the element that had it when the
 * dialog opened. (Confirmations use the browser's own `window.confirm`, which does all this itself.)
 */
import { useEffect, useEffectEvent, useRef, type ReactNode, type RefObject } from "react";

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The element Tab should move to from `current` among `items` (wrapping at both ends). */
export function nextFocus<T>(items: T[], current: T | null, backwards: boolean): T | null {
  if (!items.length) return null;
  const index = current === null ? -1 : items.indexOf(current);
  if (backwards) return index <= 0 ? items[items.length - 1] : items[index - 1];
  return index === -1 || index === items.length - 1 ? items[0] : items[index + 1];
}

/**
 * Keyboard focus for an open dialog: `initialFocus` (else its first control) gets focus, Tab
 * cycles through its controls, Escape calls `onClose`, and closing gives focus back.
 */
export function useDialogFocus(dialog: RefObject<HTMLElement | null>, onClose: () => void, initialFocus?: RefObject<HTMLElement | null>): void {
  const close = useEffectEvent(onClose); // the latest onClose, without reattaching the listener
  useEffect(() => {
    const previous = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const node = dialog.current;
    if (node && !node.contains(document.activeElement)) (initialFocus?.current ?? node.querySelector<HTMLElement>(FOCUSABLE) ?? node).focus();
    function onKeyDown(event: KeyboardEvent) {
      if (!node) return;
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        close();
      } else if (event.key === "Tab") {
        const items = [...node.querySelectorAll<HTMLElement>(FOCUSABLE)];
        const target = nextFocus(items, document.activeElement as HTMLElement | null, event.shiftKey);
        event.preventDefault();
        (target ?? node).focus();
      }
    }
    document.addEventListener("keydown", onKeyDown, true);
    return () => {
      document.removeEventListener("keydown", onKeyDown, true);
      if (previous?.isConnected) previous.focus();
    };
    // Once per opening: `dialog` and `initialFocus` are refs (the same objects while it is open).
  }, [dialog, initialFocus]);
}

/** A modal dialog named by its heading (`labelledBy`); a click outside closes it as Escape does. */
export function Dialog({
  labelledBy,
  className,
  onClose,
  initialFocus,
  children,
}: {
  labelledBy: string;
  className?: string;
  onClose: () => void;
  initialFocus?: RefObject<HTMLElement | null>;
  children: ReactNode;
}) {
  const box = useRef<HTMLDivElement>(null);
  useDialogFocus(box, onClose, initialFocus);
  return (
    <div className="overlay" role="presentation" onClick={onClose}>
      <div ref={box} className={["dialog", className].filter(Boolean).join(" ")} role="dialog" aria-modal="true" aria-labelledby={labelledBy} tabIndex={-1} onClick={(event) => event.stopPropagation()}>
        {children}
      </div>
    </div>
  );
}
