"""Plugin repositories behind `gh:<path>`: an HTTP(S) base URL, or a git repository (any URL
`git clone` takes, or a local path, optionally `@<ref>`), cloned into a cache and fetched when
a plugin is taken from it.

What is fetched becomes an immutable snapshot, keyed by its version (the git commit, or the
content hash of an HTTP file), so a trigger keeps running the code it was created with.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import httpx

from timewell.engine.dependencies import DECLARATION_FILES
from timewell.errors import InvalidRequest

DEFAULT_PLUGIN_REPO = "https://raw.githubusercontent.com/influxdata/influxdb3_plugins/main/"
REPOSITORY_PREFIX = "gh:"
_GIT_TIMEOUT_S = 300.0
_HTTP_TIMEOUT_S = 60.0
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class RepositoryError(InvalidRequest):
    """A plugin could not be fetched from its repository; the message names the URL."""


def is_repository_plugin(filename: str) -> bool:
    return filename.startswith(REPOSITORY_PREFIX)


def repository_path(filename: str) -> str:
    """The path inside the repository that `gh:<path>` names, checked."""
    path = filename[len(REPOSITORY_PREFIX):].strip().strip("/")
    parts = PurePosixPath(path).parts
    if not path or "\x00" in path or ".." in parts or "\\" in path:
        raise InvalidRequest(f"'{filename}' does not name a path inside the plugin repository")
    return path


@dataclass(frozen=True)
class Fetched:
    """A plugin taken from a repository: what `TriggerDefinition.extra["plugin"]` keeps, and
    where its snapshot is."""

    record: dict
    path: Path


class Snapshots:
    """Immutable copies of fetched plugins: `<root>/<key>/<path in repository>`."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, record: dict) -> Path:
        return self.root / record["snapshot"] / record["file"]

    def put_file(self, key: str, relpath: str, data: bytes) -> Path:
        target = self.root / key / relpath
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        return target

    def put_tree(self, key: str, relpath: str, tar_data: bytes) -> Path:
        """Unpack a tar whose members lie under `relpath` into place, all at once."""
        target = self.root / key / relpath
        if target.exists():
            return target
        staging = self.root / ".staging" / uuid.uuid4().hex
        staging.mkdir(parents=True)
        try:
            safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # 3.11.4+
            with tarfile.open(fileobj=io.BytesIO(tar_data)) as archive:
                archive.extractall(staging, **safe)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.rename(staging / relpath, target)
            except OSError:
                if not target.exists():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


class PluginRepository:
    kind = ""

    def __init__(self, url: str, ref: str | None = None) -> None:
        self.url = url
        self.ref = ref

    def __str__(self) -> str:
        return self.url + (f"@{self.ref}" if self.ref else "")

    def fetch(self, path: str, snapshots: Snapshots) -> Fetched:
        """The plugin at `path` as the repository has it now (blocking)."""
        raise NotImplementedError

    def restore(self, record: dict, snapshots: Snapshots) -> Path:
        """Re-create a missing snapshot at exactly the recorded version (blocking)."""
        raise NotImplementedError

    def _record(self, path: str, file: str, version: str, key: str) -> dict:
        return {"source": self.kind, "repository": self.url, "ref": self.ref, "path": path,
                "file": file, "version": version, "snapshot": key}


class HttpRepository(PluginRepository):
    """Files under a base URL (the upstream default is GitHub's raw-content host). Only single
    files: HTTP cannot list a directory."""

    kind = "http"

    def __init__(self, url: str) -> None:
        super().__init__(url.rstrip("/") + "/")

    def file_url(self, path: str) -> str:
        return self.url + path

    def fetch(self, path: str, snapshots: Snapshots) -> Fetched:
        if not path.endswith(".py"):
            raise RepositoryError(f"gh:{path}: only single .py files can be loaded from the "
                                  f"HTTP plugin repository {self.url}; use a git repository "
                                  "(--plugin-repo) for plugin packages")
        data = self._get(path, required=True)
        version = content_version(data)
        key = "sha256-" + version.removeprefix("sha256:")
        target = snapshots.put_file(key, path, data)
        for name in DECLARATION_FILES:
            sibling = str(PurePosixPath(path).with_name(name))
            declared = self._get(sibling, required=False)
            if declared is not None:
                snapshots.put_file(key, sibling, declared)
        return Fetched(self._record(path, path, version, key), target)

    def restore(self, record: dict, snapshots: Snapshots) -> Path:
        fetched = self.fetch(record["path"], snapshots)
        if fetched.record["version"] != record["version"]:
            raise RepositoryError(
                f"{self.file_url(record['path'])} changed since the trigger was created (it "
                f"ran {record['version']}, the URL now serves {fetched.record['version']}) "
                "and the saved copy is gone: run `timewell update trigger` to take the new "
                "version")
        return snapshots.path(record)

    def _get(self, path: str, required: bool) -> bytes | None:
        url = self.file_url(path)
        try:
            response = httpx.get(url, timeout=_HTTP_TIMEOUT_S, follow_redirects=True)
        except httpx.HTTPError as e:
            if not required:
                return None
            raise RepositoryError(f"cannot fetch plugin {url}: {e}") from None
        if response.status_code == 200:
            return response.content
        if required:
            raise RepositoryError(f"cannot fetch plugin {url}: the server answered "
                                  f"{response.status_code}")
        return None


class GitRepository(PluginRepository):
    """A git repository cloned (bare) into `<cache>/<hash of the URL>.git`."""

    kind = "git"
    _locks: dict[str, threading.Lock] = {}
    _locks_guard = threading.Lock()

    def __init__(self, url: str, ref: str | None, cache_root: Path) -> None:
        super().__init__(url, ref)
        self.cache = cache_root / (hashlib.sha256(url.encode()).hexdigest()[:16] + ".git")
        with self._locks_guard:
            self._lock = self._locks.setdefault(str(self.cache), threading.Lock())

    def fetch(self, path: str, snapshots: Snapshots) -> Fetched:
        with self._lock:
            ref = self.ref or "HEAD"
            if self.cache.exists() and not (_COMMIT.fullmatch(ref) and self._commit(ref)):
                self._update()
            elif not self.cache.exists():
                self._clone()
            commit = self._commit(ref)
            if commit is None:
                raise RepositoryError(f"plugin repository {self.url} has no ref '{ref}'")
            return self._snapshot(path, commit, snapshots)

    def restore(self, record: dict, snapshots: Snapshots) -> Path:
        with self._lock:
            commit = record["version"]
            if not self.cache.exists():
                self._clone()
            if self._commit(commit) is None:
                self._update()
            if self._commit(commit) is None:
                raise RepositoryError(f"commit {commit} is no longer in the plugin repository "
                                      f"{self.url}: run `timewell update trigger`")
            return self._snapshot(record["path"], commit, snapshots).path

    def _snapshot(self, path: str, commit: str, snapshots: Snapshots) -> Fetched:
        kind = self._object_type(commit, path)
        if kind is None:
            raise RepositoryError(f"gh:{path} not found in plugin repository {self.url} at "
                                  f"{self.ref or 'HEAD'} (commit {commit[:12]})")
        file = path
        if kind == "tree" and self._object_type(commit, f"{path}/__init__.py") is None:
            # Upstream's layout: <dir>/<dir>.py is the plugin of directory <dir>.
            candidate = f"{path}/{PurePosixPath(path).name}.py"
            if self._object_type(commit, candidate) == "blob":
                kind, file = "blob", candidate
            else:
                raise RepositoryError(f"gh:{path} in {self.url} is a directory without "
                                      "__init__.py (or a .py file of the same name)")
        if kind == "tree":
            target = snapshots.put_tree(commit, file, self._git("archive", "--format=tar",
                                                                 commit, file))
        else:
            target = snapshots.put_file(commit, file, self._git("cat-file", "blob",
                                                                f"{commit}:{file}"))
            for name in DECLARATION_FILES:
                sibling = str(PurePosixPath(file).with_name(name))
                if self._object_type(commit, sibling) == "blob":
                    snapshots.put_file(commit, sibling,
                                       self._git("cat-file", "blob", f"{commit}:{sibling}"))
        return Fetched(self._record(path, file, commit, commit), target)

    def _clone(self) -> None:
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        staging = self.cache.with_name(f".{self.cache.name}.{uuid.uuid4().hex}")
        try:
            self._git("clone", "--bare", "--quiet", self.url, str(staging), in_cache=False,
                      action="clone")
            os.rename(staging, self.cache)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _update(self) -> None:
        self._git("fetch", "--quiet", "--prune", "--force", "origin",
                  "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*", action="fetch")

    def _commit(self, ref: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet",
                             f"{ref}^{{commit}}").decode().strip()
        except RepositoryError:
            return None

    def _object_type(self, commit: str, path: str) -> str | None:
        try:
            return self._git("cat-file", "-t", f"{commit}:{path}").decode().strip()
        except RepositoryError:
            return None

    def _git(self, *args: str, in_cache: bool = True, action: str = "") -> bytes:
        command = ["git", "--git-dir", str(self.cache), *args] if in_cache else ["git", *args]
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "echo"}
        try:
            done = subprocess.run(command, capture_output=True, timeout=_GIT_TIMEOUT_S, env=env,
                                  stdin=subprocess.DEVNULL, check=False)
        except FileNotFoundError:
            raise RepositoryError(f"cannot use plugin repository {self.url}: git is not "
                                  "installed on the server") from None
        except subprocess.TimeoutExpired:
            raise RepositoryError(f"git {args[0]} of plugin repository {self.url} did not "
                                  f"finish within {_GIT_TIMEOUT_S:.0f}s") from None
        if done.returncode != 0:
            detail = done.stderr.decode(errors="replace").strip()
            what = f"cannot {action} plugin repository {self.url}" if action else (
                f"git {args[0]} failed in plugin repository {self.url}")
            raise RepositoryError(f"{what}: {detail}")
        return done.stdout


def parse_repository(text: str, cache_root: Path) -> PluginRepository:
    """`--plugin-repo`: an HTTP(S) base URL, or a git repository, optionally `@<ref>`.

    HTTP(S) URLs are git repositories when they end in `.git` (before any `@ref`) or start
    with `git+`; every other form (`ssh://`, `git://`, `file://`, `user@host:path`, a local
    path) is git."""
    text = text.strip()
    if not text:
        raise InvalidRequest("the plugin repository is empty")
    forced_git = text.startswith("git+")
    if forced_git:
        text = text[len("git+"):]
    url, ref = _split_ref(text)
    if url.startswith(("http://", "https://")) and not forced_git and not url.endswith(
            (".git", ".git/")):
        return HttpRepository(text)
    if "://" not in url and not re.match(r"^[\w.-]+@[\w.-]+:", url):
        url = str(Path(url).expanduser().resolve())  # a local path, stable whatever the cwd
    return GitRepository(url, ref, cache_root)


def _split_ref(text: str) -> tuple[str, str | None]:
    left, at, right = text.rpartition("@")
    if not at or not right or ":" in right:
        return text, None
    after_scheme = left.split("://", 1)[1] if "://" in left else left
    if "/" in after_scheme or Path(left).expanduser().exists():
        return left, right
    return text, None


def content_version(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()[:16]
