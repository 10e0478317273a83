"""What a plugin says it needs: a `requirements.txt` beside the plugin file (or in its package
directory), or the `[dependencies] python = [...]` list of an upstream-style `manifest.toml`."""

from __future__ import annotations

import importlib.metadata
import tomllib
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

REQUIREMENTS_FILE = "requirements.txt"
MANIFEST_FILE = "manifest.toml"
DECLARATION_FILES = (REQUIREMENTS_FILE, MANIFEST_FILE)


@dataclass(frozen=True)
class Declared:
    requirements_file: Path | None  # installed with -r, so its options (indexes) apply
    packages: tuple[str, ...]  # from manifest.toml

    @property
    def requirements(self) -> list[str]:
        """Every declared requirement, as text."""
        lines = []
        if self.requirements_file is not None:
            lines = _requirement_lines(self.requirements_file)
        return lines + list(self.packages)

    def __bool__(self) -> bool:
        return self.requirements_file is not None or bool(self.packages)


def declared(plugin: Path) -> Declared:
    folder = plugin if plugin.is_dir() else plugin.parent
    requirements = folder / REQUIREMENTS_FILE
    packages: tuple[str, ...] = ()
    manifest = folder / MANIFEST_FILE
    if manifest.is_file():
        try:
            data = tomllib.loads(manifest.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        listed = (data.get("dependencies") or {}).get("python") or []
        packages = tuple(str(p) for p in listed if isinstance(p, str) and p.strip())
    return Declared(requirements if requirements.is_file() else None, packages)


def missing(plugin: Path) -> list[str]:
    """The declared requirements that no installed distribution meets, as text."""
    absent = []
    for text in declared(plugin).requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        try:
            version = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            absent.append(text)
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            absent.append(f"{text} (installed: {version})")
    return absent


def missing_hint(plugin: Path) -> str:
    """A sentence naming the declared packages that are not installed, or ''."""
    absent = missing(plugin)
    if not absent:
        return ""
    return (f"; the plugin declares packages that are not installed: {', '.join(absent)} "
            "(install them with `timewell install package`, or create the trigger with "
            "--install-deps)")


def _requirement_lines(path: Path) -> list[str]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return []
    lines = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if line and not line.startswith(("#", "-")):
            lines.append(line)
    return lines
