"""What every plugin finds without importing it, in whichever process it runs: `LineBuilder`
(and, for older plugins, its errors) as builtins, and `$PLUGIN_DIR`, as on upstream."""

from __future__ import annotations

import builtins
import os
from pathlib import Path


def install_plugin_builtins() -> None:
    """Plugins use LineBuilder without importing it, in the plugin file and in the modules it
    imports: so it must be a builtin."""
    from timewell.lineprotocol import builder

    for name in ("LineBuilder", "InvalidMeasurementError", "InvalidKeyError",
                 "InvalidLineError"):
        setattr(builtins, name, getattr(builder, name))


def export_plugin_dir(root: Path | str | None) -> None:
    """Plugins find their own files through $PLUGIN_DIR."""
    if root is not None:
        os.environ["PLUGIN_DIR"] = str(root)
