"""Stopping a plugin run that overran its time limit.

Python cannot kill a thread; it can raise an exception in one. The exception arrives at the
next bytecode the thread runs, so a loop is stopped at once, while a run blocked inside a C
call (a sleep, a socket read) is stopped when that call returns."""

from __future__ import annotations

import ctypes


class PluginTimeout(BaseException):
    """Raised inside a plugin run that overran --plugin-timeout. A BaseException, so that a
    plugin's `except Exception:` cannot swallow it."""


def interrupt_thread(thread_id: int) -> bool:
    """Raise PluginTimeout in the thread; False if the thread no longer exists."""
    changed = ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(PluginTimeout))
    return changed == 1
