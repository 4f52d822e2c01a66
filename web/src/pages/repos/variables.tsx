// CI/CD variables: the API never returns a value (they are encrypted at rest and only jobs see them),
// so the page lists keys and flags, and takes a value only to set it.
import { useRef, useState, type FormEvent } from 'react';
import { api, useApi } from '../../api.js';
import { Await, DataTable, Empty, Time } from '../../components/common.js';
import { ConfirmDialog } from '../../components/confirm.js';
import { useRepo } from '../../components/repo-frame.js';
import { seg } from '../../router.js';
import type { Variable } from '../../types.js';
import { ActionError, useAction } from '../../components/action.js';

export function VariablesSettings() {
  const { repo, can } = useRepo();
  const path = `/api/v1/repos/${seg(repo.name)}/variables`;
  const variables = useApi<Variable[]>(can('variable.read') ? path : null);
  const save = useAction();
  const remove = useAction();
  const [deleting, setDeleting] = useState<string | null>(null);
  const [savedKey, setSavedKey] = useState<string | null>(null);
  const formRef = useRef<HTMLFormElement>(null);

  if (!can('variable.read')) return null;

  const submit = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = new FormData(form);
    const body = {
      key: String(data.get('key')).trim(),
      value: String(data.get('value')),
      masked: data.has('masked'),
      protected: data.has('protected'),
      file: data.has('file'),
    };
    setSavedKey(null);
    void save.run(async () => {
      await api(path, { method: 'POST', body });
      // The value leaves the page as soon as the server has it.
      form.reset();
      setSavedKey(body.key);
      variables.reload();
    });
  };

  /** Puts a listed variable's key and flags in the form, for a new value. */
  const replace = (v: Variable) => {
    const form = formRef.current;
    if (!form) return;
    const field = (name: string) => form.elements.namedItem(name) as HTMLInputElement;
    field('key').value = v.key;
    field('masked').checked = v.masked;
    field('protected').checked = v.protected;
    field('file').checked = v.file;
    field('value').focus();
  };

  const confirmDelete = () => {
    const key = deleting;
    if (key === null) return;
    void remove.run(async () => {
      await api(`${path}/${seg(key)}`, { method: 'DELETE' });
      variables.reload();
    });
    setDeleting(null);
  };

  return (
    <section aria-labelledby="settings-variables" className="repo-section">
      <h2 id="settings-variables">CI/CD variables</h2>
      <Await loaded={variables} what="variables">
        {(list) => (
          <DataTable
            rows={list}
            empty={<Empty>No variables yet.</Empty>}
            columns={['Key', 'Value', 'Flags', 'Updated', <span className="visually-hidden">Actions</span>]}
            row={(v) => (
              <tr key={v.key}>
                <td>
                  <code>{v.key}</code>
                </td>
                <td className="muted">value hidden</td>
                <td>
                  <Flags variable={v} />
                </td>
                <td>
                  <Time iso={v.updatedAt} />
                </td>
                <td className="row-actions">
                  {can('variable.write') ? (
                    <button type="button" onClick={() => replace(v)} aria-label={`Replace the value of ${v.key}`}>
                      Replace value
                    </button>
                  ) : null}
                  {can('variable.delete') ? (
                    <button type="button" className="danger" onClick={() => setDeleting(v.key)} aria-label={`Delete ${v.key}`}>
                      Delete
                    </button>
                  ) : null}
                </td>
              </tr>
            )}
          />
        )}
      </Await>
      <ActionError action={remove} />
      {can('variable.write') ? (
        <form ref={formRef} className="form" onSubmit={submit} aria-labelledby="variable-form-title">
          <h3 id="variable-form-title">Add or replace a variable</h3>
          <label>
            Key
            <input
              name="key"
              required
              pattern="[A-Za-z_][A-Za-z0-9_]*"
              title='Letters, digits and "_", not starting with a digit'
              autoComplete="off"
            />
          </label>
          <label>
            Value
            <textarea name="value" rows={3} required autoComplete="off" spellCheck={false} />
          </label>
          <label className="check">
            <input type="checkbox" name="masked" /> Masked{' '}
            <span className="muted">(hidden in job logs; at least 8 characters, no spaces)</span>
          </label>
          <label className="check">
            <input type="checkbox" name="protected" /> Protected{' '}
            <span className="muted">(only pipelines of protected branches see it)</span>
          </label>
          <label className="check">
            <input type="checkbox" name="file" /> File <span className="muted">(jobs get a path to a file holding the value)</span>
          </label>
          <ActionError action={save} />
          {savedKey ? (
            <p className="notice" role="status">
              Saved <code>{savedKey}</code>.
            </p>
          ) : null}
          <button type="submit" className="primary" disabled={save.busy}>
            Save variable
          </button>
        </form>
      ) : null}
      <ConfirmDialog
        open={deleting !== null}
        title={`Delete variable ${deleting ?? ''}?`}
        confirmLabel="Delete"
        danger
        onConfirm={confirmDelete}
        onCancel={() => setDeleting(null)}
      >
        <p>Jobs that start from now on no longer get it. Its value cannot be recovered.</p>
      </ConfirmDialog>
    </section>
  );
}

function Flags({ variable }: { variable: Variable }) {
  const flags = [variable.masked && 'masked', variable.protected && 'protected', variable.file && 'file'].filter(
    (f): f is string => typeof f === 'string',
  );
  if (flags.length === 0) return <span className="muted">none</span>;
  return (
    <>
      {flags.map((f) => (
        <span key={f} className="badge flag">
          {f}
        </span>
      ))}
    </>
  );
}
