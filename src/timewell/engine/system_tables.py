"""`system.processing_engine_triggers` and `system.processing_engine_trigger_arguments`, built
from the catalog's trigger records."""

from __future__ import annotations

import pyarrow as pa

from timewell.catalog import TriggerDefinition


def triggers_table(database: str, triggers: list[TriggerDefinition]) -> pa.Table:
    return pa.table({
        "trigger_name": pa.array([t.name for t in triggers], pa.string()),
        "plugin_filename": pa.array([t.plugin_filename for t in triggers], pa.string()),
        "trigger_specification": pa.array([t.trigger_specification for t in triggers],
                                          pa.string()),
        "disabled": pa.array([t.disabled for t in triggers], pa.bool_()),
        "error_behavior": pa.array([t.error_behavior for t in triggers], pa.string()),
        "run_async": pa.array([t.run_async for t in triggers], pa.bool_()),
        "public": pa.array([t.extra.get("public") is True for t in triggers], pa.bool_()),
        "timeout_s": pa.array([t.extra.get("timeout_s") for t in triggers], pa.float64()),
        "missed_fires": pa.array([t.extra.get("missed_fires", "skip") for t in triggers],
                                 pa.string()),
        "database_name": pa.array([database] * len(triggers), pa.string()),
    })


def arguments_table(triggers: list[TriggerDefinition]) -> pa.Table:
    rows = [(t.name, k, v) for t in triggers for k, v in (t.trigger_arguments or {}).items()]
    return pa.table({
        "trigger_name": pa.array([r[0] for r in rows], pa.string()),
        "argument_key": pa.array([r[1] for r in rows], pa.string()),
        "argument_value": pa.array([r[2] for r in rows], pa.string()),
    })
