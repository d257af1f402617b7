// Entry point: authentication, the page frame and the hash routes.
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { clearAccess, loadAccess, useAccess } from "./access";
import { get, onUnauthorized, post } from "./api";
import { startLive, stopLive, useLiveState } from "./live";
import { Dashboard } from "./pages/Dashboard";
import { JobPage } from "./pages/JobPage";
import { Login } from "./pages/Login";
import { Profile } from "./pages/Profile";
import { ProjectPage } from "./pages/Project";
import { RunLogPage, RunPage } from "./pages/RunPage";
import { Runs } from "./pages/Runs";
import { Secrets } from "./pages/Secrets";
import { Users } from "./pages/Users";
import { Workers } from "./pages/Workers";
import "./style.css";
import type { User } from "./types";
import { href, useRoute } from "./util";

function Page({ user }: { user: User }) {
  const { path, params } = useRoute();
  const [head, project, section, id, tail] = path;
  if (head === "projects" && project) {
    // Keyed by what they show: a page's state (a form, a load) never carries over to the next one.
    if (section === "jobs" && id) {
      const from = params.get("from") ?? undefined; // "Edit and run": the form filled with that run's parameters
      return <JobPage project={project} job={id} from={from} key={`${project}/${id}/${from ?? ""}`} />;
    }
    if (section === "runs" && id && tail === "log") {
      const line = Number(params.get("line"));
      return <RunLogPage project={project} run={id} line={line > 0 ? line : undefined} key={`${project}/${id}`} />;
    }
    if (section === "runs" && id) return <RunPage project={project} run={id} key={`${project}/${id}`} />;
    if (section === "runs") return <Runs project={project} params={params} key={project} />;
    if (section === "secrets") return <Secrets project={project} key={project} />;
    return <ProjectPage project={project} key={project} />;
  }
  if (head === "workers") return <Workers />;
  if (head === "users") return <Users />;
  if (head === "me") return <Profile user={user} />;
  return <Dashboard />;
}

function Frame({ user, logout }: { user: User; logout: () => void }) {
  const live = useLiveState();
  const { path } = useRoute();
  const current = (name: string) => (path[0] === name || (name === "" && !path[0]) ? "page" : undefined);
  // Asked on login and on every reconnection of the live feed: grants may have changed meanwhile.
  useEffect(() => {
    if (live) void loadAccess();
  }, [live]);
  const admin = useAccess().permissions.includes("admin");
  return (
    <>
      <header class="top">
        <a class="brand" href="#/">
          Podium
        </a>
        <nav aria-label="Main">
          <a href="#/" aria-current={current("")}>
            Dashboard
          </a>
          <a href="#/workers" aria-current={current("workers")}>
            Workers
          </a>
          {admin ? (
            <a href="#/users" aria-current={current("users")}>
              Users
            </a>
          ) : null}
          <a href={href(["me"])} aria-current={current("me")}>
            {user.display_name || user.id}
          </a>
        </nav>
        <span class={`live ${live ? "on" : "off"}`} title={live ? "Live updates on" : "Live updates reconnecting"}>
          {live ? "live" : "offline"}
        </span>
        <button type="button" class="link" onClick={logout}>
          Log out
        </button>
      </header>
      <main id="main">
        <Page user={user} />
      </main>
    </>
  );
}

function App() {
  const [user, setUser] = useState<User | null>(null);
  const [checking, setChecking] = useState(true);
  useEffect(() => {
    const off = onUnauthorized(() => {
      stopLive();
      clearAccess();
      setUser(null);
    });
    // The session cookie, if any, answers for us: logged in from another tab, or not at all.
    get<User>("/me")
      .then(setUser)
      .catch(() => setUser(null))
      .finally(() => setChecking(false));
    return off;
  }, []);
  useEffect(() => {
    if (user) startLive();
  }, [user]);
  const logout = async () => {
    try {
      await post("/me/logout");
    } catch {
      // the session may already be gone
    }
    stopLive();
    clearAccess();
    setUser(null);
  };
  if (checking) return <p class="muted center">Loading…</p>;
  if (!user)
    return (
      <Login onLogin={setUser} />
    );
  return <Frame user={user} logout={logout} />;
}

render(<App />, document.getElementById("app")!);
