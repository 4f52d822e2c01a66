// Who may do what in a repository: members with GitLab's roles, and the branches only some roles
// may run pipelines on.
import { useState, type FormEvent, type SelectHTMLAttributes } from 'react';
import { api, useApi } from '../../api.js';
import { Await, DataTable, Empty, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useRepo } from '../../components/repo-frame.js';
import { seg } from '../../router.js';
import type { Member, ProtectedBranch } from '../../types.js';
import { ActionError, useAction } from '../../components/action.js';

const ROLES = ['guest', 'reporter', 'developer', 'maintainer', 'owner'] as const;
const PROTECTED_BRANCH_ROLES = ['developer', 'maintainer', 'owner'] as const;

function RoleSelect({ roles = ROLES, ...select }: SelectHTMLAttributes<HTMLSelectElement> & { roles?: readonly string[] }) {
  return (
    <select {...select}>
      {roles.map((r) => (
        <option key={r} value={r}>
          {r}
        </option>
      ))}
    </select>
  );
}

export function MembersSettings() {
  const { repo, can } = useRepo();
  const path = `/api/v1/repos/${seg(repo.name)}/members`;
  const members = useApi<Member[]>(can('member.read') ? path : null);
  const change = useAction();
  const [removing, setRemoving] = useState<string | null>(null);

  if (!can('member.read')) return null;

  const setRole = (username: string, role: string) =>
    change.run(async () => {
      await api(`${path}/${seg(username)}`, { method: 'PUT', body: { role } });
      members.reload();
    });

  const add = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    void setRole(String(data.get('username')).trim(), String(data.get('role'))).then((ok) => ok && form.reset());
  };

  const confirmRemove = () => {
    const username = removing;
    setRemoving(null);
    if (username === null) return;
    void change.run(async () => {
      await api(`${path}/${seg(username)}`, { method: 'DELETE' });
      members.reload();
    });
  };

  return (
    <section aria-labelledby="settings-members" className="repo-section">
      <h2 id="settings-members">Members</h2>
      <ActionError action={change} />
      <Await loaded={members} what="members">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No members.</Empty>}
            columns={['User', 'Role', 'Source', 'Since', <span className="visually-hidden">Actions</span>]}
            row={(m) => (
              <tr key={m.username}>
                <td>{m.username}</td>
                <td>
                  {can('member.set') ? (
                    <RoleSelect
                      value={m.role}
                      aria-label={`Role of ${m.username}`}
                      onChange={(e) => void setRole(m.username, e.target.value)}
                      disabled={change.busy}
                    />
                  ) : (
                    m.role
                  )}
                </td>
                <td className="muted">{m.source}</td>
                <td>
                  <Time iso={m.since} />
                </td>
                <td>
                  {can('member.remove') ? (
                    <button type="button" className="danger" onClick={() => setRemoving(m.username)} aria-label={`Remove ${m.username}`}>
                      Remove
                    </button>
                  ) : null}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      {can('member.set') ? (
        <form className="inline-form" onSubmit={add} aria-label="Add a member">
          <label>
            Username
            <input name="username" required autoComplete="off" />
          </label>
          <label>
            Role
            <RoleSelect name="role" defaultValue="developer" />
          </label>
          <button type="submit" disabled={change.busy}>
            Add member
          </button>
        </form>
      ) : null}
      <ConfirmDialog
        open={removing !== null}
        title={`Remove ${removing ?? ''}?`}
        confirmLabel="Remove"
        danger
        onConfirm={confirmRemove}
        onCancel={() => setRemoving(null)}
      >
        <p>They lose their role on {repo.name}: its pipelines, environments and settings are no longer theirs to see or change.</p>
      </ConfirmDialog>
    </section>
  );
}

export function ProtectedBranchesSettings() {
  const { repo, can } = useRepo();
  const path = `/api/v1/repos/${seg(repo.name)}/protected-branches`;
  const branches = useApi<ProtectedBranch[]>(can('protected_branch.read') ? path : null);
  const change = useAction();

  if (!can('protected_branch.read')) return null;

  const protect = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    void change
      .run(async () => {
        await api(path, {
          method: 'POST',
          body: { pattern: String(data.get('pattern')).trim(), allowedRole: String(data.get('allowedRole')) },
        });
        branches.reload();
      })
      .then((ok) => ok && form.reset());
  };

  const unprotect = (branch: ProtectedBranch) =>
    void change.run(async () => {
      await api(`${path}/${branch.id}`, { method: 'DELETE' });
      branches.reload();
    });

  return (
    <section aria-labelledby="settings-branches" className="repo-section">
      <h2 id="settings-branches">Protected branches</h2>
      <p className="muted">
        Pipelines of protected branches see protected variables; running them and their manual jobs needs the allowed role.
      </p>
      <ActionError action={change} />
      <Await loaded={branches} what="protected branches">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No protected branches.</Empty>}
            columns={['Branches', 'Allowed to run', <span className="visually-hidden">Actions</span>]}
            row={(b) => (
              <tr key={b.id}>
                <td>
                  <code>{b.pattern}</code>
                </td>
                <td>{b.allowedRole} and above</td>
                <td>
                  {can('protected_branch.delete') ? (
                    <button type="button" onClick={() => unprotect(b)} disabled={change.busy} aria-label={`Unprotect ${b.pattern}`}>
                      Unprotect
                    </button>
                  ) : null}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      {can('protected_branch.create') ? (
        <form className="inline-form" onSubmit={protect} aria-label="Protect branches">
          <label>
            Branch or glob
            <input name="pattern" required placeholder="release/*" autoComplete="off" />
          </label>
          <label>
            Allowed role
            <RoleSelect name="allowedRole" defaultValue="maintainer" roles={PROTECTED_BRANCH_ROLES} />
          </label>
          <button type="submit" disabled={change.busy}>
            Protect
          </button>
        </form>
      ) : null}
    </section>
  );
}
