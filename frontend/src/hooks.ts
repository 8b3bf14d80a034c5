import { useCallback, useEffect, useEffectEvent, useRef, useState, type DependencyList } from "react";

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload: () => void;
}

/** Run an async loader when `deps` change; ignores answers that arrive after a newer call. */
export function useLoad<T>(loader: () => Promise<T>, deps: DependencyList): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | null>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const generation = useRef(0);

  useEffect(() => {
    const mine = ++generation.current;
    setLoading(true);
    loader()
      .then((value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
      })
      .catch((caught: unknown) => {
        if (mine !== generation.current) return;
        setError(caught instanceof Error ? caught.message : String(caught));
      })
      .finally(() => {
        if (mine === generation.current) setLoading(false);
      });
    // The caller's deps decide when to load again (as for useEffect); `loader` is a new function each render.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);

  const reload = useCallback(() => setTick((value) => value + 1), []);
  return { data, error, loading, reload };
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
