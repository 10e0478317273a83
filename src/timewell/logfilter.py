"""`serve --log-filter` (or `LOG_FILTER`): which log lines the server writes, as upstream's
tracing filter: comma-separated directives, each a level (`debug`: everything at that level
and above) or `<logger>=<level>` for one logger and those under it (`timewell.engine=debug`;
`::` may stand for `.`). Levels: trace, debug, info, warn (warning), error, off.

Noise reduction: a filter whose default level is debug or trace would drown the server's own
lines in those of the libraries it uses (HTTP clients, the event loop, file watching...), so
unless `--disable-log-filter-noise-reduction` is given, those libraries are held at `info`,
except where the filter names them itself. The filter in force is logged at start-up
(`log_filter_active filter=...`)."""

from __future__ import annotations

import logging

from timewell.errors import InvalidRequest

LEVELS = {"trace": logging.DEBUG, "debug": logging.DEBUG, "info": logging.INFO,
          "warn": logging.WARNING, "warning": logging.WARNING, "error": logging.ERROR,
          "off": logging.CRITICAL + 10}
# chatty at debug level, rarely what a server's operator looks for
NOISY_LOGGERS = ("asyncio", "botocore", "filelock", "h11", "hpack", "httpcore", "httpx",
                 "multipart", "urllib3", "uvicorn.protocols", "watchfiles", "websockets")


class LogFilter:
    def __init__(self, default: str, targets: dict[str, str]) -> None:
        self.default = default
        self.targets = targets

    @classmethod
    def parse(cls, text: str) -> LogFilter:
        """InvalidRequest with the bad directive named."""
        default, targets = "info", {}
        directives = [d.strip() for d in text.split(",") if d.strip()]
        if not directives:
            raise InvalidRequest("the log filter is empty: give a level (e.g. info) or "
                                 "<logger>=<level> directives")
        for directive in directives:
            target, sep, level = directive.rpartition("=")
            level = level.strip().lower()
            if level not in LEVELS:
                raise InvalidRequest(f"log filter directive '{directive}': unknown level "
                                     f"'{level}' (use {', '.join(LEVELS)})")
            if not sep:
                default = level
            elif not target.strip():
                raise InvalidRequest(f"log filter directive '{directive}' names no logger")
            else:
                targets[target.strip().replace("::", ".")] = level
        return cls(default, targets)

    def with_noise_reduction(self) -> LogFilter:
        """This filter, with the chatty libraries at `info` when the default is more verbose
        than that (those the filter names keep their level)."""
        if LEVELS[self.default] >= logging.INFO:
            return self
        quiet = {name: "info" for name in NOISY_LOGGERS if name not in self.targets}
        return LogFilter(self.default, {**self.targets, **quiet})

    def __str__(self) -> str:
        return ",".join([self.default, *(f"{t}={lvl}" for t, lvl in self.targets.items())])

    @property
    def default_level(self) -> int:
        return LEVELS[self.default]

    def apply(self) -> None:
        """Set the levels: the root logger's and each named logger's."""
        logging.getLogger().setLevel(self.default_level)
        for target, level in self.targets.items():
            logging.getLogger(target).setLevel(LEVELS[level])
