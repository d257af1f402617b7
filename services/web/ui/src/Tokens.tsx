// A user's tokens: list, create (the secret is shown once), revoke.
import { useState } from "preact/hooks";
import { del, get, message, post } from "./api";
import type { Credential } from "./types";
import { ActionButton, ErrorNote, formatTime, useLoad } from "./util";

export function Tokens({ base }: { base: string }) {
  const tokens = useLoad((signal) => get<Credential[]>(`${base}/tokens`, signal), [base]);
  const [description, setDescription] = useState("");
  const [days, setDays] = useState("30");
  const [secret, setSecret] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const create = async (event: Event) => {
    event.preventDefault();
    setError(null);
    try {
      const expires = Number(days);
      const created = await post<{ token: string; credential: Credential }>(`${base}/tokens`, {
        description,
        expires_in: expires > 0 ? Math.round(expires * 86400) : null,
      });
      if (created) {
        setSecret(created.token);
        setDescription("");
        tokens.reload();
      }
    } catch (caught) {
      setError(caught);
    }
  };
  return (
    <section class="card" aria-label="Tokens">
      <h2>Tokens</h2>
      <ErrorNote error={tokens.error} />
      <table class="list">
        <thead>
          <tr>
            <th>Description</th>
            <th class="wide">Created</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(tokens.data ?? []).map((token) => (
            <tr key={token.id}>
              <td>{token.description || <span class="muted">—</span>}</td>
              <td class="wide">{formatTime(token.created_at)}</td>
              <td>{token.expires_at ? formatTime(token.expires_at) : "never"}</td>
              <td>
                <ActionButton action={async () => { await del(`${base}/tokens/${encodeURIComponent(token.id)}`); tokens.reload(); }}>
                  Revoke
                </ActionButton>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form class="inline" onSubmit={create} aria-label="Create a token">
        <label>
          Description
          <input value={description} maxLength={200} onInput={(event) => setDescription((event.target as HTMLInputElement).value)} />
        </label>
        <label>
          Days valid (0: never expires)
          <input type="number" min="0" value={days} size={5} onInput={(event) => setDays((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Create token</button>
      </form>
      {error ? <p class="error" role="alert">{message(error)}</p> : null}
      {secret ? (
        <p class="note" role="status">
          New token (shown only now): <code class="secret">{secret}</code>
        </p>
      ) : null}
    </section>
  );
}
