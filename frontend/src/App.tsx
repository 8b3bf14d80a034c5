import { lazy, Suspense, type ReactNode } from "react";
import { NavLink, Navigate, Route, Routes } from "react-router-dom";

import { readCookie } from "./api/client";
import { EventsScreen } from "./events/EventsScreen";
import { IdentitiesScreen } from "./identities/IdentitiesScreen";
import { ReviewScreen } from "./review/ReviewScreen";
import { useSession } from "./session";
import { RunFinishedBanner } from "./components/RunFinishedBanner";
import { VideoPage, VideosScreen } from "./videos/VideoPage";

// The chart-heavy screens load on demand: the review screen stays small and quick to start.
// Admin controls live under /manage: /admin/ is Django's admin site.
const Dashboard = lazy(() => import("./dashboard/Dashboard"));
const AdminScreen = lazy(() => import("./admin/AdminScreen"));
const SuggestionsScreen = lazy(() => import("./identities/SuggestionsScreen").then((module) => ({ default: module.SuggestionsScreen })));
const TagReviewScreen = lazy(() => import("./tags/TagReviewScreen").then((module) => ({ default: module.TagReviewScreen })));
const FacesScreen = lazy(() => import("./faces/FacesScreen").then((module) => ({ default: module.FacesScreen })));
const IdentityPage = lazy(() => import("./identities/IdentityPage").then((module) => ({ default: module.IdentityPage })));

export function App() {
  const { me, error, isAdmin } = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">FaceCurator</span>
        <nav aria-label="Main">
          <NavLink to="/review">Review</NavLink>
          <NavLink to="/tags">Tags</NavLink>
          <NavLink to="/identities">Identities</NavLink>
          <NavLink to="/faces">Faces</NavLink>
          <NavLink to="/suggestions">Suggestions</NavLink>
          <NavLink to="/dashboard">Dashboard</NavLink>
          <NavLink to="/videos">Videos</NavLink>
          <NavLink to="/events">Label events</NavLink>
          {isAdmin && <NavLink to="/manage">Admin</NavLink>}
        </nav>
        <div className="user">
          {me && (
            <span>
              {me.username} <span className="badge">{me.role ?? "no role"}</span>
            </span>
          )}
          <form method="post" action="/accounts/logout/">
            <input type="hidden" name="csrfmiddlewaretoken" value={readCookie("csrftoken")} />
            <button type="submit" className="link">
              Log out
            </button>
          </form>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {error && <p className="error">Could not load your account: {error}</p>}
        {me && <RunFinishedBanner isAdmin={isAdmin} />}
        {me && !me.role ? (
          <p className="error">Your account has no role yet: ask an admin to make you an annotator.</p>
        ) : (
          <Suspense fallback={<p className="muted">Loading…</p>}>
            <Routes>
              <Route path="/" element={me ? <Navigate to={isAdmin ? "/dashboard" : "/review"} replace /> : null} />
              <Route path="/review" element={<ReviewScreen />} />
              <Route path="/identities" element={<IdentitiesScreen />} />
              <Route path="/identities/:id" element={<IdentityPage />} />
              <Route path="/faces" element={<FacesScreen />} />
              <Route path="/suggestions" element={<SuggestionsScreen />} />
              <Route path="/tags" element={<TagReviewScreen />} />
              <Route path="/dashboard" element={<Dashboard />} />
              <Route path="/videos" element={<VideosScreen />} />
              <Route path="/videos/:id" element={<VideoPage />} />
              <Route path="/events" element={<EventsScreen />} />
              <Route path="/manage/*" element={<AdminOnly>{<AdminScreen />}</AdminOnly>} />
              <Route path="*" element={<p>No such page. <NavLink to="/review">Back to review</NavLink></p>} />
            </Routes>
          </Suspense>
        )}
      </main>
    </>
  );
}

function AdminOnly({ children }: { children: ReactNode }) {
  const { me, isAdmin } = useSession();
  if (!me) return <p className="muted">Loading…</p>;
  return isAdmin ? <>{children}</> : <p className="error">Only admins may use this page.</p>;
}
