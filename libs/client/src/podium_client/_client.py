"""A typed, synchronous client of the Podium HTTP API."""

from __future__ import annotations

import hashlib
import json
import os
import ssl
from collections.abc import Generator, Iterator
from typing import Any, BinaryIO
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from podium_model import Job, LoginResponse, Page, Problem, Project, Run, RunDetail, User, Worker
from podium_model import transport as _tls
from podium_model.artifacts import Artifact, ArtifactList
from podium_model.config import Change
from podium_model.secrets import SecretInfo
from podium_model.users import TokenCreated

_RUN_PAGE = TypeAdapter(Page[Run])


class PodiumError(Exception):
    """The api answered with a problem (4xx/5xx); `problem` holds its details."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        detail = f": {problem.detail}" if problem.detail else ""
        super().__init__(f"{problem.title} ({problem.status}){detail}")


class PodiumUnreachable(Exception):
    """The api could not be reached at all (its TLS certificate refused included)."""


class NotPodium(PodiumUnreachable):
    """Something answered at the URL, but not a Podium api (an HTML page, another service)."""


class LogEvent(BaseModel):
    """One event of a run's live log stream: a chunk of text, or the end (`ended`) with the run."""

    offset: int = 0
    text: str = ""
    ended: bool = False
    status: str | None = None
    end: Run | None = None


class PodiumClient:
    """Client of `/api/v1`, authenticated with a bearer token.

    Args:
        url: base URL of the api or the web service (the part before `/api/v1`).
        token: bearer token; None for anonymous calls such as `login`.
        timeout: seconds for each request (streams have no read timeout).
        transport: an httpx transport to use instead of the network (tests).
        ca_file: the CA bundle that signs an https api's certificate; None trusts the system
            store. The chain and the host name are always verified.
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        ca_file: str | os.PathLike[str] | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._trusted = os.fspath(ca_file) if ca_file is not None else "the system certificate store"
        verify: ssl.SSLContext | bool = _tls.client_context(ca_file) if _tls.is_secure(url) else True
        self._http = httpx.Client(
            base_url=url.rstrip("/").removesuffix("/api/v1") + "/api/v1",
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=verify,
        )

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> PodiumClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Plumbing -------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise PodiumUnreachable(f"cannot reach {self._http.base_url}: {self._reason(exc)}") from None
        if response.status_code >= 400:
            raise PodiumError(self._problem(response))
        return response

    def _problem(self, response: httpx.Response) -> Problem:
        """The problem an error answer carries; an answer that is not JSON is not from Podium."""
        try:
            return Problem.model_validate(response.json())
        except (ValueError, ValidationError):
            raise self._not_podium(response) from None

    def _not_podium(self, response: httpx.Response) -> NotPodium:
        kind = response.headers.get("content-type", "no content type").split(";")[0]
        return NotPodium(
            f"{self._http.base_url} does not look like a Podium api: {response.request.url.path} answered "
            f"HTTP {response.status_code} with {kind} (is --url the api's or the web's address?)"
        )

    def _reason(self, error: httpx.TransportError) -> str:
        """Why the api could not be reached; a refused certificate says so and what was trusted."""
        tls = _tls.find_tls_error(error)
        if tls is None:
            return str(error)
        return f"{_tls.describe_tls_failure(tls, 'the api')} (trusting {self._trusted})"

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError:
            raise self._not_podium(response) from None

    # Me -------------------------------------------------------------------------------------

    def login(self, user: str, password: str) -> LoginResponse:
        """Exchange a password for a bearer token (which this client then uses)."""
        answer = LoginResponse.model_validate(
            self._json("POST", "/me/login", json={"user": user, "password": password})
        )
        self._http.headers["Authorization"] = f"Bearer {answer.token}"
        return answer

    def me(self) -> User:
        """The user this client is authenticated as."""
        return User.model_validate(self._json("GET", "/me"))

    # Projects and jobs ----------------------------------------------------------------------

    def projects(self) -> list[Project]:
        """Every project."""
        return [Project.model_validate(p) for p in _items(self._json("GET", "/projects"))]

    def jobs(self, project: str) -> list[Job]:
        """The jobs of a project."""
        return [Job.model_validate(j) for j in _items(self._json("GET", f"/projects/{project}/jobs"))]

    def job(self, project: str, job: str) -> Job:
        """One job."""
        return Job.model_validate(self._json("GET", f"/projects/{project}/jobs/{job}"))

    def set_job_enabled(self, project: str, job: str, enabled: bool) -> Job:
        """Enable or disable a job."""
        action = "enable" if enabled else "disable"
        return Job.model_validate(self._json("POST", f"/projects/{project}/jobs/{job}/{action}"))

    # Runs -----------------------------------------------------------------------------------

    def trigger(
        self, project: str, job: str, parameters: dict[str, str] | None = None, priority: int | None = None
    ) -> Run:
        """Start a run of a job (of the job's priority unless `priority` is given); answers the pending run."""
        body: dict[str, object] = {"parameters": parameters or {}}
        if priority is not None:
            body["priority"] = priority
        return Run.model_validate(self._json("POST", f"/projects/{project}/jobs/{job}/runs", json=body))

    def run(self, project: str, run_id: str) -> RunDetail:
        """One run (with its pipeline graph when it is a pipeline run)."""
        return RunDetail.model_validate(self._json("GET", f"/projects/{project}/runs/{run_id}"))

    def runs(self, project: str, *, limit: int = 50, cursor: str | None = None, **filters: str) -> Page[Run]:
        """One page of a project's runs, newest first (`filters`: job, status, worker, source)."""
        params: dict[str, str | int] = {"limit": limit, **{k: v for k, v in filters.items() if v}}
        if cursor:
            params["cursor"] = cursor
        return _RUN_PAGE.validate_python(self._json("GET", f"/projects/{project}/runs", params=params))

    def log(self, project: str, run_id: str, offset: int = 0) -> bytes:
        """The run's log bytes from `offset`."""
        return self._request("GET", f"/projects/{project}/runs/{run_id}/log", params={"offset": offset}).content

    def cancel(self, project: str, run_id: str) -> Run:
        """Cancel a pending run."""
        return Run.model_validate(self._json("POST", f"/projects/{project}/runs/{run_id}/cancel"))

    def abort(self, project: str, run_id: str) -> Run:
        """Abort a running run."""
        return Run.model_validate(self._json("POST", f"/projects/{project}/runs/{run_id}/abort"))

    def rerun(self, project: str, run_id: str) -> Run:
        """Start a new run of the run's job with the run's parameters."""
        return Run.model_validate(self._json("POST", f"/projects/{project}/runs/{run_id}/rerun"))

    def archive(self, project: str, run_id: str) -> bytes:
        """The run's archive (run JSON, log and results)."""
        return self._request("GET", f"/projects/{project}/runs/{run_id}/archive").content

    def artifacts(self, project: str, run_id: str) -> list[Artifact]:
        """The files the run kept, with size and SHA-256 (empty until it ended)."""
        return ArtifactList.model_validate(self._json("GET", f"/projects/{project}/runs/{run_id}/artifacts")).items

    def download_artifact(self, project: str, artifact: Artifact, run_id: str, target: BinaryIO) -> str:
        """Write one artifact to `target`, streamed; return the hex SHA-256 of what was written."""
        path = f"/projects/{project}/runs/{run_id}/artifacts/{quote(artifact.path)}"
        digest = hashlib.sha256()
        try:
            with self._http.stream("GET", path, timeout=httpx.Timeout(30, read=300)) as response:
                if response.status_code >= 400:
                    response.read()
                    raise PodiumError(self._problem(response))
                for chunk in response.iter_bytes(1 << 20):
                    digest.update(chunk)
                    target.write(chunk)
        except httpx.TransportError as exc:
            raise PodiumUnreachable(f"lost the download of {artifact.path}: {self._reason(exc)}") from None
        return digest.hexdigest()

    def follow(self, project: str, run_id: str, offset: int = 0) -> Iterator[LogEvent]:
        """Follow a run's live log: chunks as they are written, then one event with the final run."""
        path = f"/projects/{project}/runs/{run_id}/log/stream"
        try:
            with self._http.stream("GET", path, params={"offset": offset}, timeout=httpx.Timeout(30, read=None)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise PodiumError(self._problem(r))
                yield from _log_events(r.iter_lines())
        except httpx.TransportError as exc:
            raise PodiumUnreachable(f"lost the log stream: {self._reason(exc)}") from None

    def run_changes(self) -> Generator[Run, None, None]:
        """Every run as it changes (`/events`: first the current state, then pushed changes), endless."""
        try:
            with self._http.stream("GET", "/events", timeout=httpx.Timeout(30, read=None)) as r:
                if r.status_code >= 400:
                    r.read()
                    raise PodiumError(self._problem(r))
                event, data = "message", list[str]()
                for line in r.iter_lines():
                    if line == "":
                        if event == "run" and data:
                            yield Run.model_validate_json("\n".join(data))
                        event, data = "message", list[str]()
                    elif line.startswith("event:"):
                        event = line[6:].strip()
                    elif line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
        except httpx.TransportError as exc:
            raise PodiumUnreachable(f"lost the event stream: {self._reason(exc)}") from None

    def wait(self, project: str, run_id: str) -> Run:
        """Block until the run ends (following its log stream, so without polling); answer it."""
        for event in self.follow(project, run_id):
            if event.ended:
                break
        return self.run(project, run_id)

    # Workers --------------------------------------------------------------------------------

    def workers(self) -> list[Worker]:
        """Every worker."""
        return [Worker.model_validate(w) for w in _items(self._json("GET", "/workers"))]

    def worker_action(self, worker: str, action: str) -> Worker:
        """`enable`, `disable` or `disconnect` a worker."""
        return Worker.model_validate(self._json("POST", f"/workers/{worker}/{action}"))

    # Secrets --------------------------------------------------------------------------------

    def secrets(self, project: str) -> list[SecretInfo]:
        """The secrets of a project: names and dates, never values."""
        return [SecretInfo.model_validate(s) for s in _items(self._json("GET", f"/projects/{project}/secrets"))]

    def set_secret(self, project: str, name: str, value: str) -> SecretInfo:
        """Create or replace a secret (operators and administrators); the value is never answered."""
        return SecretInfo.model_validate(
            self._json("PUT", f"/projects/{project}/secrets/{name}", json={"value": value})
        )

    def delete_secret(self, project: str, name: str) -> None:
        """Delete a secret (operators and administrators)."""
        self._request("DELETE", f"/projects/{project}/secrets/{name}")

    # Administration -------------------------------------------------------------------------

    def apply(self, content: bytes | str, dry_run: bool = False, *, yaml: bool = True) -> list[Change]:
        """Apply a configuration file's content (YAML, or JSON with `yaml=False`); answer the changes."""
        params = {"dry_run": "true"} if dry_run else {}
        content_type = "application/yaml" if yaml else "application/json"
        body = content.encode() if isinstance(content, str) else content
        answer = self._json(
            "PUT", "/admin/configuration", content=body, params=params, headers={"Content-Type": content_type}
        )
        changes = answer["changes"] if isinstance(answer, dict) else answer
        return [Change.model_validate(change) for change in changes]

    def create_user(self, user: str, roles: list[str], password: str | None = None) -> User:
        """Create a user (administrators only)."""
        body: dict[str, Any] = {"id": user, "roles": roles}
        if password is not None:
            body["password"] = password
        return User.model_validate(self._json("POST", "/users", json=body))

    def create_token(
        self,
        user: str,
        description: str = "",
        expires_in: int | None = None,
        projects: list[str] | None = None,
        operations: list[str] | None = None,
    ) -> TokenCreated:
        """Create a token for a user (administrators); the answer holds the secret, shown once.

        `projects` and `operations` (read, trigger, operate, maintain) narrow it; None: not narrowed.
        """
        body = {"description": description, "expires_in": expires_in, "projects": projects, "operations": operations}
        return TokenCreated.model_validate(self._json("POST", f"/users/{user}/tokens", json=body))


def _items(answer: Any) -> list[Any]:
    items: list[Any] = answer["items"] if isinstance(answer, dict) else answer
    return items


def _log_events(lines: Iterator[str]) -> Iterator[LogEvent]:
    """Parse server-sent events of a log stream (see docs/architecture.md).

    A `log` event's text is in `text` (or `data`); the `end` event carries the final `status`
    and, when the api includes it, the `run`.
    """
    event, data = "message", list[str]()
    for line in lines:
        if line == "":
            if data:
                payload = json.loads("\n".join(data))
                if event == "end":
                    run = Run.model_validate(payload["run"]) if payload.get("run") else None
                    yield LogEvent(ended=True, status=payload.get("status"), end=run)
                    return
                if event == "log":
                    yield LogEvent(offset=payload.get("offset", 0), text=payload.get("text", payload.get("data", "")))
            event, data = "message", list[str]()
        elif line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
