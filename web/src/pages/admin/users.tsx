// Users of this instance: create local ones (with a password), make them administrators or not,
// delete them with their sessions, tokens and memberships.
import { useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { useAction } from '../../components/action.js';
import { Await, ErrorBox, Page, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { seg } from '../../router.js';
import { useUser } from '../../session.js';
import type { User } from '../../types.js';

function NewUser({ onCreated }: { onCreated: (username: string) => void }) {
  const [username, setUsername] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [admin, setAdmin] = useState(false);
  const action = useAction();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = { username, password, admin, ...(email ? { email } : {}) };
    if (await action.run(() => api('/api/v1/users', { method: 'POST', body }))) {
      onCreated(username);
      setUsername('');
      setEmail('');
      setPassword('');
      setAdmin(false);
    }
  };

  return (
    <form className="form" onSubmit={(e) => void submit(e)} aria-labelledby="new-user">
      <h2 id="new-user">New user</h2>
      <label>
        Username
        <input required autoComplete="off" value={username} onChange={(e) => setUsername(e.target.value)} />
      </label>
      <label>
        Email (optional)
        <input type="email" autoComplete="off" value={email} onChange={(e) => setEmail(e.target.value)} />
      </label>
      <label>
        Password
        <input required type="password" autoComplete="new-password" value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <label>
        <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.target.checked)} /> Instance administrator
      </label>
      {action.error ? <ErrorBox error={action.error} /> : null}
      <button type="submit" className="primary" disabled={action.busy}>
        {action.busy ? 'Creating…' : 'Create user'}
      </button>
    </form>
  );
}

export function UsersPage() {
  const me = useUser();
  const users = useApi<User[]>('/api/v1/users');
  const [deleting, setDeleting] = useState<User | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const change = useAction();

  const toggleAdmin = (user: User) =>
    void change
      .run(() => api(`/api/v1/users/${seg(user.username)}`, { method: 'PATCH', body: { admin: !user.admin } }))
      .then((ok) => ok && users.reload());
  const confirmDelete = async () => {
    if (!deleting) return;
    if (await change.run(() => api(`/api/v1/users/${seg(deleting.username)}`, { method: 'DELETE' }))) {
      setDeleting(null);
      users.reload();
    }
  };

  return (
    <Page title="Users">
      {created ? (
        <p className="notice" role="status">
          User {created} created.
        </p>
      ) : null}
      {change.error && !deleting ? <ErrorBox error={change.error} /> : null}
      <Await loaded={users} what="users">
        {(list) => (
          <div className="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Username</th>
                  <th scope="col">Email</th>
                  <th scope="col">Role</th>
                  <th scope="col">Sign-in</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last sign-in</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.map((u) => (
                  <tr key={u.id}>
                    <th scope="row">{u.username}</th>
                    <td>{u.email ?? <span className="muted">—</span>}</td>
                    <td>{u.admin ? <span className="badge status-running">admin</span> : 'user'}</td>
                    <td>{u.hasPassword ? 'password' : 'identity provider'}</td>
                    <td>
                      <Time iso={u.createdAt} />
                    </td>
                    <td>
                      <Time iso={u.lastLoginAt} />
                    </td>
                    <td className="actions">
                      <button
                        type="button"
                        disabled={change.busy || u.id === me.id}
                        onClick={() => toggleAdmin(u)}
                        aria-label={`${u.admin ? 'Remove admin from' : 'Make admin'} ${u.username}`}
                      >
                        {u.admin ? 'Remove admin' : 'Make admin'}
                      </button>
                      <button
                        type="button"
                        className="danger"
                        disabled={u.id === me.id}
                        onClick={() => setDeleting(u)}
                        aria-label={`Delete ${u.username}`}
                      >
                        Delete
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Await>
      <NewUser
        onCreated={(username) => {
          setCreated(username);
          users.reload();
        }}
      />
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete ${deleting?.username ?? ''}?`}
        confirmLabel="Delete user"
        danger
        busy={change.busy}
        onConfirm={() => void confirmDelete()}
        onCancel={() => setDeleting(null)}
      >
        <p>Their sessions, tokens and repository memberships go with them. The audit log keeps their name.</p>
        {change.error ? <ErrorBox error={change.error} /> : null}
      </ConfirmDialog>
    </Page>
  );
}
