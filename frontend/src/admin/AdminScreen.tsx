/** Admin controls: import, training (retrain, accept, operating point, chunks), exports, annotators, users, jobs. */
import { NavLink, Navigate, Route, Routes } from "react-router-dom";

import { ExportsPanel } from "../exports/ExportsPanel";
import { useDocumentTitle } from "../hooks";
import { ImportPanel } from "./ImportPanel";
import { JobPage, JobsPanel } from "./JobsPanel";
import { TrainingPanel } from "./TrainingPanel";
import { TeamPanel } from "./TeamPanel";
import { UsersPanel } from "./UsersPanel";

export default function AdminScreen() {
  useDocumentTitle("Admin");
  return (
    <section aria-labelledby="admin-title">
      <h1 id="admin-title">Admin</h1>
      <nav className="tabs" aria-label="Admin sections">
        <NavLink to="/manage/training">Training</NavLink>
        <NavLink to="/manage/import">Import</NavLink>
        <NavLink to="/manage/exports">Exports</NavLink>
        <NavLink to="/manage/team">Annotators</NavLink>
        <NavLink to="/manage/users">Users</NavLink>
        <NavLink to="/manage/jobs">Jobs</NavLink>
      </nav>
      <Routes>
        <Route index element={<Navigate to="training" replace />} />
        <Route path="training" element={<TrainingPanel />} />
        <Route path="import" element={<ImportPanel />} />
        <Route path="exports" element={<ExportsPanel />} />
        <Route path="team" element={<TeamPanel />} />
        <Route path="users" element={<UsersPanel />} />
        <Route path="jobs" element={<JobsPanel />} />
        <Route path="jobs/:id" element={<JobPage />} />
      </Routes>
    </section>
  );
}
