// Users for administrators: create, enable/disable, roles, password reset, tokens, delete.
import { useState } from "preact/hooks";
import { del, get, message, patch, post } from "../api";
import { Tokens } from "../Tokens";
import type { User } from "../types";
import { ActionButton, ConfirmButton, ErrorNote, useLoad } from "../util";

const ROLES = ["administrator", "operator", "viewer", "auditor", "worker"];

function CreateUser({ created }: { created: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    setError(null);
    try {
      await post("/users", {
        id: data.get("id"),
        display_name: data.get("display_name"),
        roles: data.getAll("roles"),
        password: data.get("password") || null,
      });
      form.reset();
      created();
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <form class="card inline" onSubmit={submit} aria-label="Create a user">
      <label>
        Id
        <input name="id" required />
      </label>
      <label>
        Name
        <input name="display_name" />
      </label>
      <fieldset>
        <legend>Roles</legend>
        {ROLES.map((role) => (
          <label key={role} class="check">
            <input type="checkbox" name="roles" value={role} /> {role}
          </label>
        ))}
      </fieldset>
      <label>
        Password
        <input name="password" type="password" autoComplete="new-password" />
      </label>
      <button type="submit">Create user</button>
      {error ? <p class="error" role="alert">{message(error)}</p> : null}
    </form>
  );
}

export function Users() {
  const users = useLoad((signal) => get<User[]>("/users", signal), []);
  const [selected, setSelected] = useState<string | null>(null);
  const replace = (updated: User | null) =>
    updated && users.setData((old) => old?.map((item) => (item.id === updated.id ? updated : item)) ?? null);
  const resetPassword = async (user: User) => {
    const password = prompt(`New password for ${user.id}`);
    if (password) await post(`/users/${encodeURIComponent(user.id)}/password`, { password });
  };
  return (
    <>
      <h1>Users</h1>
      <ErrorNote error={users.error} />
      <table class="list users">
        <thead>
          <tr>
            <th>User</th>
            <th>Roles</th>
            <th>Enabled</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(users.data ?? []).map((user) => (
            <tr key={user.id} data-user={user.id}>
              <td data-label="User">
                {user.id}
                {user.display_name ? <span class="muted"> {user.display_name}</span> : null}
              </td>
              <td data-label="Roles">{user.roles.join(", ") || <span class="muted">none</span>}</td>
              <td data-label="Enabled">{user.is_enabled ? "yes" : "no"}</td>
              <td class="row-actions">
                <ActionButton action={async () =>
                  replace(await post<User>(`/users/${encodeURIComponent(user.id)}/${user.is_enabled ? "disable" : "enable"}`))}>
                  {user.is_enabled ? "Disable" : "Enable"}
                </ActionButton>
                <ActionButton action={() => resetPassword(user)}>Reset password</ActionButton>
                <ActionButton action={async () => {
                  const roles = prompt(`Roles of ${user.id} (comma-separated)`, user.roles.join(","));
                  if (roles !== null)
                    replace(await patch<User>(`/users/${encodeURIComponent(user.id)}`, {
                      roles: roles.split(",").map((role) => role.trim()).filter(Boolean),
                    }));
                }}>
                  Roles…
                </ActionButton>
                <button type="button" onClick={() => setSelected(selected === user.id ? null : user.id)} aria-expanded={selected === user.id}>
                  Tokens
                </button>
                <ConfirmButton class="danger" confirm={`Delete ${user.id}`}
                  action={async () => {
                    await del(`/users/${encodeURIComponent(user.id)}`);
                    if (selected === user.id) setSelected(null);
                    users.setData((old) => old?.filter((item) => item.id !== user.id) ?? null);
                  }}>
                  Delete
                </ConfirmButton>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {selected ? (
        <>
          <h2>Tokens of {selected}</h2>
          <Tokens base={`/users/${encodeURIComponent(selected)}`} key={selected} />
        </>
      ) : null}
      <h2>New user</h2>
      <CreateUser created={users.reload} />
    </>
  );
}
