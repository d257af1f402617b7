// My profile: who I am, my password and my tokens.
import { useState } from "preact/hooks";
import { message, post } from "../api";
import { Tokens } from "../Tokens";
import type { User } from "../types";
import { formatTime } from "../util";

export function Profile({ user }: { user: User }) {
  const [password, setPassword] = useState("");
  const [next, setNext] = useState("");
  const [note, setNote] = useState<string | null>(null);
  const change = async (event: Event) => {
    event.preventDefault();
    try {
      await post("/me/password", { password, new_password: next });
      setNote("Password changed.");
      setPassword("");
      setNext("");
    } catch (caught) {
      setNote(message(caught));
    }
  };
  return (
    <>
      <h1>{user.display_name || user.id}</h1>
      <p>
        User <code>{user.id}</code> · roles {user.roles.join(", ") || "none"} · since {formatTime(user.created_at)}
      </p>
      <form class="card inline" onSubmit={change} aria-label="Change my password">
        <label>
          Current password
          <input type="password" autoComplete="current-password" required value={password}
            onInput={(event) => setPassword((event.target as HTMLInputElement).value)} />
        </label>
        <label>
          New password
          <input type="password" autoComplete="new-password" required value={next}
            onInput={(event) => setNext((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit">Change password</button>
        {note ? <span role="status">{note}</span> : null}
      </form>
      <Tokens base="/me" />
    </>
  );
}
