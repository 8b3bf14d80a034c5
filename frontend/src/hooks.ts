import { useCallback, useEffect, useEffectEvent, useState, type DependencyList } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** The answer of one call of a loader, with the dependencies it was made for. */
interface Settled<T> {
  key: readonly unknown[];
  data: T | undefined;
  error: string | null;
}

function sameKey(a: readonly unknown[], b: readonly unknown[]): boolean {
  return a.length === b.length && a.every((value, index) => Object.is(value, b[index]));
}

/**
 * Run an async loader when `deps` change; ignores answers that arrive after a newer call. It is
 * `loading` until the answer for the current `deps` arrives (derived, not set when a call starts); the
 * last data and error stay meanwhile.
 */
export function useLoad<T>(loader: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [tick, setTick] = useState(0);
  const key = [...deps, tick];
  const [settled, setSettled] = useState<Settled<T> | null>(null);

  useEffect(() => {
    let live = true;
    loader().then(
      (value) => live && setSettled({ key, data: value, error: null }),
      (caught: unknown) =>
        live && setSettled((last) => ({ key, data: last?.data, error: caught instanceof Error ? caught.message : String(caught) })),
    );
    return () => {
      live = false;
    };
    // The caller's deps decide when to load again (as for useEffect); `loader` is a new function each render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, key);

  const reload = useCallback(() => setTick((value) => value + 1), []);
  return {
    data: settled?.data,
    error: settled?.error ?? null,
    loading: settled === null || !sameKey(settled.key, key),
    reload,
  };
}

/** Call `callback` every `ms` while `active`; stops on unmount. */
export function useInterval(callback: () => void, ms: number, active = true): void {
  const tick = useEffectEvent(callback); // the latest callback, without restarting the timer
  useEffect(() => {
    if (!active) return undefined;
    const id = window.setInterval(() => tick(), ms);
    return () => window.clearInterval(id);
  }, [ms, active]);
}

export function useDocumentTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · FaceCurator` : "FaceCurator";
  }, [title]);
}

/**
 * The address bar's query as it is now. Build a search-params change on this, not on
 * useSearchParams' value: that one is the last render's, so two changes made before React
 * re-renders (Clear, then a filter at once) would lose the first.
 */
export function currentSearchParams(): URLSearchParams {
  return new URLSearchParams(window.location.search);
}

/**
 * Calls `handler` on every keydown in the window. The listener is attached once; as an Effect Event
 * the handler always sees the latest render's state.
 */
export function useWindowKeyDown(handler: (event: KeyboardEvent) => void): void {
  const onKeyDown = useEffectEvent(handler);
  useEffect(() => {
    const listener = (event: KeyboardEvent) => onKeyDown(event);
    window.addEventListener("keydown", listener);
    return () => window.removeEventListener("keydown", listener);
  }, []);
}
