/** Who is logged in (GET /api/v1/me/), shared by every screen; `refresh` after decisions. */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";

import { ApiError, api, type Me } from "./api/client";

interface Session {
  me: Me | null;
  error: string | null;
  isAdmin: boolean;
  refresh: () => void;
}

const SessionContext = createContext<Session>({ me: null, error: null, isAdmin: false, refresh: () => undefined });

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(() => {
    api
      .me()
      .then((answer) => {
        setMe(answer);
        setError(null);
      })
      .catch((caught: unknown) => {
        if (caught instanceof ApiError && caught.isUnauthenticated) {
          window.location.assign(`/accounts/login/?next=${encodeURIComponent(window.location.pathname)}`);
          return;
        }
        setError(caught instanceof Error ? caught.message : String(caught));
      });
  }, []);

  useEffect(refresh, [refresh]);

  return (
    <SessionContext.Provider value={{ me, error, isAdmin: me?.role === "admin", refresh }}>{children}</SessionContext.Provider>
  );
}

export function useSession(): Session {
  return useContext(SessionContext);
}
