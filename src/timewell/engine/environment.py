"""The plugin environment: packages that plugins import, installed by uv or pip into a directory
of their own under the data directory, never into the server's environment.

The directory is appended to `sys.path` after the server's own packages, and the installers are
told to leave the server's distributions out, so a plugin package can never replace or shadow
one of the server's dependencies: a plugin always gets the server's version (installing reports
a warning when a package asks for another one). Installs run in a subprocess, one at a time, so
the event loop never waits on them.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import re
import shutil
import site
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

from packaging.requirements import InvalidRequirement, Requirement

from timewell.engine.dependencies import declared
from timewell.errors import InvalidRequest, NotFound, TimewellError, Unavailable

log = logging.getLogger(__name__)

PACKAGE_MANAGERS = ("uv", "pip", "disabled")
INSTALL_TIMEOUT_S = 900.0
_MESSAGE_CHARS = 8000


class PackageManagerDisabled(TimewellError):
    """The server was started with --package-manager disabled (403)."""

    def __init__(self) -> None:
        super().__init__("installing packages is disabled on this server (it was started with "
                         "--package-manager disabled): install them into the server's "
                         "environment, or restart it with --package-manager uv or pip")


class InstallFailed(InvalidRequest):
    """The installer refused or failed; the message is the installer's own."""


class InstallerUnavailable(Unavailable):
    """The installer is missing or did not finish in time."""


@dataclass
class InstallResult:
    installed: list[str] = field(default_factory=list)  # name==version, new or changed
    provided_by_server: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"installed": self.installed, "provided_by_server": self.provided_by_server,
                "warnings": self.warnings}


def normalize(name: str) -> str:
    """A distribution name as the installers compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def find_uv() -> str | None:
    try:
        import uv  # the PyPI package ships the binary

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


def default_package_manager() -> str:
    return "uv" if find_uv() else "pip"


class PluginEnvironment:
    def __init__(self, root: Path | None, manager: str) -> None:
        if manager not in PACKAGE_MANAGERS:
            raise ValueError(f"package manager must be one of {', '.join(PACKAGE_MANAGERS)}")
        self.root = root  # the install target; None: no data directory to put it in
        self.manager = manager
        self._lock = asyncio.Lock()
        # Taken before the plugin directory joins sys.path: these are the server's own.
        self.server_distributions = _distributions(sys.path, exclude=root)

    def activate(self) -> None:
        """Make what is installed importable: append the directory to sys.path (after the
        server's packages; `.pth` files inside are honoured) and drop stale import caches."""
        if self.root is None or not self.root.is_dir():
            return
        if str(self.root) not in sys.path:
            site.addsitedir(str(self.root))
        importlib.invalidate_caches()

    def installed(self) -> dict[str, str]:
        """Distributions in the plugin environment: normalized name -> version."""
        if self.root is None or not self.root.is_dir():
            return {}
        return _distributions([str(self.root)])

    async def install(self, packages: list[str] | None = None,
                      requirements: Path | None = None) -> InstallResult:
        """Install `packages` (requirement strings) or a requirements file."""
        if self.manager == "disabled":
            raise PackageManagerDisabled()
        if self.root is None:
            raise InstallerUnavailable("the server has no data directory for plugin packages")
        result = InstallResult()
        to_install = self._requested(packages or [], result)
        if requirements is not None and not requirements.is_file():
            raise NotFound(f"requirements file {requirements} not found on the server")
        if not to_install and requirements is None:
            return result
        async with self._lock:
            before = self.installed()
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=".install-", dir=self.root.parent) as tmp:
                arguments = list(to_install)
                if requirements is not None:
                    arguments += ["-r", str(requirements)]
                if self.manager == "uv":
                    await self._install_with_uv(arguments, Path(tmp))
                else:
                    await self._install_with_pip(arguments, Path(tmp))
            _prune_stale_metadata(self.root)
            self.activate()
            after = self.installed()
        result.installed = sorted(f"{name}=={version}" for name, version in after.items()
                                  if before.get(name) != version)
        result.warnings = self._mismatches([name for name, version in after.items()
                                            if before.get(name) != version])
        for warning in result.warnings:
            log.warning("plugin environment: %s", warning)
        return result

    async def install_declared(self, plugin: Path) -> None:
        """Install the packages the plugin at `plugin` declares."""
        needs = declared(plugin)
        if needs.requirements_file is not None:
            await self.install(requirements=needs.requirements_file)
        if needs.packages:
            await self.install(list(needs.packages))

    def _requested(self, packages: list[str], result: InstallResult) -> list[str]:
        """The packages to hand to the installer; those the server provides are left out (or
        refused when the server's version does not match)."""
        wanted = []
        for text in packages:
            if not isinstance(text, str) or not text.strip():
                raise InvalidRequest("each package must be a non-empty string")
            text = text.strip()
            if text.startswith("-"):
                raise InvalidRequest(f"'{text}' is an installer option, not a package; put "
                                     "options in a requirements file")
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                wanted.append(text)  # a path or URL: the installer judges it
                continue
            version = self.server_distributions.get(normalize(requirement.name))
            if version is None:
                wanted.append(text)
            elif requirement.specifier.contains(version, prereleases=True):
                result.provided_by_server.append(f"{requirement.name}=={version}")
            else:
                raise InstallFailed(
                    f"'{text}' cannot be installed: {requirement.name} is one of the server's "
                    f"own packages (version {version}), and plugins always use the server's "
                    "version")
        return wanted

    async def _install_with_uv(self, arguments: list[str], tmp: Path) -> None:
        uv = find_uv()
        if uv is None:
            raise InstallerUnavailable("uv is not installed: install it (pip install uv) or "
                                       "start the server with --package-manager pip")
        excludes = tmp / "server-packages.txt"
        excludes.write_text("\n".join(sorted(self.server_distributions)) + "\n")
        await _run("uv", [uv, "pip", "install", "--target", str(self.root), "--python",
                          sys.executable, "--excludes", str(excludes), *arguments])

    async def _install_with_pip(self, arguments: list[str], tmp: Path) -> None:
        """pip has no way to leave packages out of a `--target` install, so it resolves
        against the server's environment first (a dry run that sees the server's and the
        plugin environment's packages as installed), then installs what that plan adds,
        without dependencies, into the target."""
        if importlib.util.find_spec("pip") is None:
            raise InstallerUnavailable("pip is not installed in the server's environment: "
                                       "install it, or start the server with "
                                       "--package-manager uv")
        report = tmp / "report.json"
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.root),
                                                          env.get("PYTHONPATH")]))
        await _run("pip", [sys.executable, "-m", "pip", "install", "--dry-run", "--quiet",
                           "--report", str(report), *arguments], env)
        plan = json.loads(report.read_text()).get("install", [])
        targets = [_direct_reference(item) for item in plan
                   if normalize(item["metadata"]["name"]) not in self.server_distributions]
        if targets:
            await _run("pip", [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                               "--upgrade", "--target", str(self.root), *targets])

    def _mismatches(self, names: list[str]) -> list[str]:
        """Dependencies of newly installed packages that the server's version does not meet."""
        warnings = []
        for name in names:
            try:
                distribution = next(importlib.metadata.distributions(name=name,
                                                                     path=[str(self.root)]))
            except StopIteration:
                continue
            for text in distribution.requires or []:
                try:
                    requirement = Requirement(text)
                except InvalidRequirement:
                    continue
                if requirement.marker is not None and not requirement.marker.evaluate(
                        {"extra": ""}):
                    continue
                version = self.server_distributions.get(normalize(requirement.name))
                if version is not None and not requirement.specifier.contains(
                        version, prereleases=True):
                    warnings.append(f"{name} requires {text}, but plugins use the server's "
                                    f"{requirement.name} {version}")
        return warnings


async def _run(installer: str, command: list[str], env: dict | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        stdin=asyncio.subprocess.DEVNULL)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), INSTALL_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise InstallerUnavailable(f"{installer} did not finish within {INSTALL_TIMEOUT_S:.0f}s "
                                   "and was stopped") from None
    except BaseException:  # cancelled: don't leave an installer running
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    if process.returncode != 0:
        message = (stderr.decode(errors="replace").strip()
                   or stdout.decode(errors="replace").strip())
        raise InstallFailed(f"{installer} failed (exit status {process.returncode}): "
                            f"{message[-_MESSAGE_CHARS:]}")


def _direct_reference(item: dict) -> str:
    """What pip installs for one entry of its report: exactly the file or commit it chose."""
    info = item.get("download_info") or {}
    url = info.get("url") or f"{item['metadata']['name']}=={item['metadata']['version']}"
    if "vcs_info" in info:
        vcs = info["vcs_info"]
        return f"{vcs['vcs']}+{url}@{vcs['commit_id']}"
    if "dir_info" in info and url.startswith("file:"):
        return unquote(urlparse(url).path)
    return url


def _distributions(paths: list[str], exclude: Path | None = None) -> dict[str, str]:
    found: dict[str, str] = {}
    for distribution in importlib.metadata.distributions(path=paths):
        name = distribution.metadata["Name"]
        location = getattr(distribution, "_path", None)
        if not name or (exclude is not None and location is not None
                        and Path(location).is_relative_to(exclude)):
            continue
        found.setdefault(normalize(name), distribution.version)
    return found


def _prune_stale_metadata(root: Path) -> None:
    """An upgrade into a target directory leaves the old `*.dist-info` beside the new one; keep
    the newest of each name, so what the environment reports is what imports."""
    by_name: dict[str, list[Path]] = {}
    for info in root.glob("*.dist-info"):
        by_name.setdefault(normalize(info.name.split("-")[0]), []).append(info)
    for infos in by_name.values():
        infos.sort(key=lambda p: p.stat().st_mtime_ns)
        for stale in infos[:-1]:
            shutil.rmtree(stale, ignore_errors=True)
