// The login page: user id and password for a session (the api sets its cookie).
import { useState } from "preact/hooks";
import { ApiError, post } from "../api";
import type { User } from "../types";
import { ErrorNote } from "../util";

export function Login({ onLogin }: { onLogin: (user: User) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const answer = await post<{ user: User }>("/me/login", { user, password, session: true });
      if (answer) onLogin(answer.user);
    } catch (caught) {
      setError(caught instanceof ApiError && caught.status === 401 ? "Unknown user or wrong password." : caught);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="login">
      <h1>Podium</h1>
      <form onSubmit={submit} class="card stack" aria-label="Log in">
        <label>
          User
          <input name="user" autoComplete="username" required autoFocus value={user}
            onInput={(event) => setUser((event.target as HTMLInputElement).value)} />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" required value={password}
            onInput={(event) => setPassword((event.target as HTMLInputElement).value)} />
        </label>
        <button type="submit" class="primary" disabled={busy}>
          Log in
        </button>
        <ErrorNote error={error} />
      </form>
    </main>
  );
}
