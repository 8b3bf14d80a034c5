/** Dialog keyboard habits in one place: Tab and Shift+Tab stay inside, Escape closes, and focus
 * goes back to where it was when the dialog opened. */
import { useEffect, type RefObject } from "react";

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

/** The element Tab should move to from `current` among `items` (wrapping at both ends). */
export function nextFocus<T>(items: T[], current: T | null, backwards: boolean): T | null {
  if (!items.length) return null;
  const index = current === null ? -1 : items.indexOf(current);
  if (backwards) return index <= 0 ? items[items.length - 1] : items[index - 1];
  return index === -1 || index === items.length - 1 ? items[0] : items[index + 1];
}

export function useDialogFocus(dialog: RefObject<HTMLElement | null>, onClose: () => void): void {
  useEffect(() => {
    const previous = document.activeElement as HTMLElement | null;
    const node = dialog.current;
    if (node && !node.contains(document.activeElement)) (node.querySelector<HTMLElement>(FOCUSABLE) ?? node).focus();
    function onKeyDown(event: KeyboardEvent) {
      if (!node) return;
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation();
        onClose();
      } else if (event.key === "Tab") {
        const items = [...node.querySelectorAll<HTMLElement>(FOCUSABLE)];
        const target = nextFocus(items, document.activeElement as HTMLElement | null, event.shiftKey);
        event.preventDefault();
        target?.focus();
      }
    }
    document.addEventListener("keydown", onKeyDown, true);
    return () => {
      document.removeEventListener("keydown", onKeyDown, true);
      previous?.focus?.();
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
}
