"""The web console's files: a single-page app of plain ES modules, served by
`timewell.server.ui_routes` at `/ui/`. Nothing here is built at install time."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
