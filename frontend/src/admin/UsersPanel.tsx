/** Accounts and roles (GET/POST/PATCH /api/v1/users/). */
import { useState, type FormEvent } from "react";

import { api, type User, type UserRole } from "../api/client";
import { when } from "../components/format";
import { useLoad } from "../hooks";
import { useSession } from "../session";

const ROLES: UserRole[] = ["annotator", "admin", "none"];

export function UsersPanel() {
  const users = useLoad(() => api.users.list(), []);
  const { me } = useSession();
  const [message, setMessage] = useState<{ text: string; error?: boolean } | null>(null);
  const [draft, setDraft] = useState({ username: "", password: "", role: "annotator" as UserRole, email: "" });

  async function change(user: User, body: Parameters<typeof api.users.update>[1], text: string) {
    try {
      await api.users.update(user.id, body);
      setMessage({ text });
      users.reload();
    } catch (error) {
      setMessage({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  async function create(event: FormEvent) {
    event.preventDefault();
    try {
      await api.users.create({ ...draft, email: draft.email || undefined, is_active: true });
      setMessage({ text: `Created ${draft.username} (${draft.role}).` });
      setDraft({ username: "", password: "", role: "annotator", email: "" });
      users.reload();
    } catch (error) {
      setMessage({ text: error instanceof Error ? error.message : String(error), error: true });
    }
  }

  return (
    <section className="panel" aria-labelledby="users-title">
      <h2 id="users-title">Users and roles</h2>
      {message && (
        <p role="status" className={message.error ? "error" : "status-line"}>
          {message.text}
        </p>
      )}
      {users.error && <p className="error">{users.error}</p>}
      <table className="data">
        <thead>
          <tr>
            <th scope="col">User</th>
            <th scope="col">Email</th>
            <th scope="col">Role</th>
            <th scope="col">Active</th>
            <th scope="col">Last login</th>
          </tr>
        </thead>
        <tbody>
          {(users.data ?? []).map((user) => (
            <tr key={user.id}>
              <td>{user.username}</td>
              <td>{user.email}</td>
              <td>
                <select
                  aria-label={`Role of ${user.username}`}
                  value={user.role ?? "none"}
                  disabled={user.id === me?.id}
                  onChange={(event) => void change(user, { role: event.target.value as UserRole }, `${user.username} is now ${event.target.value}.`)}
                >
                  {ROLES.map((role) => (
                    <option key={role} value={role}>
                      {role}
                    </option>
                  ))}
                </select>
              </td>
              <td>
                <input
                  type="checkbox"
                  aria-label={`${user.username} active`}
                  checked={user.is_active ?? true}
                  disabled={user.id === me?.id}
                  onChange={(event) => void change(user, { is_active: event.target.checked }, `${user.username} ${event.target.checked ? "activated" : "deactivated"}.`)}
                />
              </td>
              <td>{when(user.last_login)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="form-grid" onSubmit={(event) => void create(event)} aria-labelledby="new-user-title">
        <h3 id="new-user-title" style={{ gridColumn: "1 / -1", margin: "1rem 0 0" }}>
          New user
        </h3>
        <label htmlFor="new-username">Username</label>
        <input id="new-username" required value={draft.username} onChange={(event) => setDraft({ ...draft, username: event.target.value })} />
        <label htmlFor="new-password">Password (12+ characters, not a common one)</label>
        <input id="new-password" type="password" minLength={12} required value={draft.password} onChange={(event) => setDraft({ ...draft, password: event.target.value })} />
        <label htmlFor="new-email">Email</label>
        <input id="new-email" type="email" value={draft.email} onChange={(event) => setDraft({ ...draft, email: event.target.value })} />
        <label htmlFor="new-role">Role</label>
        <select id="new-role" value={draft.role} onChange={(event) => setDraft({ ...draft, role: event.target.value as UserRole })}>
          {ROLES.map((role) => (
            <option key={role} value={role}>
              {role}
            </option>
          ))}
        </select>
        <span />
        <button type="submit">Create user</button>
      </form>
    </section>
  );
}
