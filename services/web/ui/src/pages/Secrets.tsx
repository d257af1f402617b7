// A project's secrets: names and dates only (values go in, never come back), set and delete.
import { useState } from "preact/hooks";
import { useCan } from "../access";
import { del, get, message, request } from "../api";
import { ConfirmButton, Crumbs, ErrorNote, formatTime, useLoad } from "../util";

interface SecretInfo {
  name: string;
  created_at: string;
  updated_at: string;
}

function SetSecret({ base, saved }: { base: string; saved: () => void }) {
  const [error, setError] = useState<unknown>(null);
  const submit = async (event: Event) => {
    event.preventDefault();
    const form = event.target as HTMLFormElement;
    const data = new FormData(form);
    setError(null);
    try {
      await request(`${base}/${encodeURIComponent(String(data.get("name") ?? ""))}`, {
        method: "PUT",
        body: JSON.stringify({ value: data.get("value") }),
      });
      form.reset(); // the value leaves the page as soon as it is stored
      saved();
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <form class="card inline" onSubmit={submit} aria-label="Set a secret">
      <label>
        Name
        <input name="name" required pattern="[A-Z_][A-Z0-9_]*" title="A-Z, 0-9 and _" autoComplete="off" />
      </label>
      <label>
        Value
        <input name="value" type="password" required autoComplete="new-password" />
      </label>
      <button type="submit">Set secret</button>
      {error ? <p class="error" role="alert">{message(error)}</p> : null}
    </form>
  );
}

export function Secrets({ project }: { project: string }) {
  const base = `/projects/${encodeURIComponent(project)}/secrets`;
  const secrets = useLoad(async (signal) => (await get<{ items: SecretInfo[] }>(base, signal)).items, [project]);
  const mayMaintain = useCan(project, "maintain");
  return (
    <>
      <Crumbs project={project}> / secrets</Crumbs>
      <h1>Secrets</h1>
      <p class="muted">
        Jobs name the secrets they need in <code>definition.secrets</code>; each becomes a variable of their
        commands, masked in logs. Values are never shown again once set.
      </p>
      <ErrorNote error={secrets.error} />
      {secrets.data && !secrets.data.length ? <p class="muted">No secrets.</p> : null}
      {secrets.data?.length ? (
        <table class="list">
          <thead>
            <tr>
              <th>Name</th>
              <th class="wide">Created</th>
              <th>Updated</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {secrets.data.map((secret) => (
              <tr key={secret.name} data-secret={secret.name}>
                <td>
                  <code>{secret.name}</code>
                </td>
                <td class="wide">{formatTime(secret.created_at)}</td>
                <td>{formatTime(secret.updated_at)}</td>
                <td class="row-actions">
                  {mayMaintain ? (
                    <ConfirmButton class="danger" confirm={`Delete ${secret.name}`}
                      action={async () => {
                        await del(`${base}/${encodeURIComponent(secret.name)}`);
                        secrets.setData((old) => old?.filter((item) => item.name !== secret.name) ?? null);
                      }}>
                      Delete
                    </ConfirmButton>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      ) : null}
      {mayMaintain ? (
        <>
          <h2>Set a secret</h2>
          <SetSecret base={base} saved={secrets.reload} />
        </>
      ) : null}
    </>
  );
}
