"""The multi-file plugins of upstream's `cli/plugins.rs` and its earlier form
`cli/multi_file_plugin.rs`: directories of `.py` files that share one namespace (no imports
between them), entered through one file. Each is {file name: source}; ENTRY stands for the
entry file's name, which differs between the two upstream files."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conformance.conftest import cli
from tests.helpers import wait_for

ENTRY = "<entry>"

WAL_PLUGIN = {
    "helper.py": '''
def process_value(value):
    """Helper function to process values"""
    return value * 2

def create_processed_line(table_name, value):
    """Create a LineBuilder for processed data"""
    line = LineBuilder(f"{table_name}_processed")
    line.float64_field("value", value)
    return line
''',
    "utils.py": '''
import datetime

def get_timestamp():
    """Get current timestamp"""
    return datetime.datetime.now().isoformat()

def log_message(influxdb3_local, message):
    """Log a message with timestamp"""
    timestamp = get_timestamp()
    influxdb3_local.info(f"[{timestamp}] {message}")
''',
    ENTRY: '''
def process_writes(influxdb3_local, table_batches, args=None):
    """Main plugin function that processes write batches"""
    # Functions from other files are available in global namespace
    log_message(influxdb3_local, "Starting processing")

    for batch in table_batches:
        table_name = batch['table_name']
        rows = batch['rows']

        for row in rows:
            # Process temperature values - fields are directly in the row dict
            if 'temperature' in row:
                temperature = row['temperature']
                processed_value = process_value(temperature)

                # Write processed data using LineBuilder
                line = create_processed_line(table_name, processed_value)
                influxdb3_local.write(line)

                log_message(influxdb3_local, f"Processed: {temperature} -> {processed_value}")

    log_message(influxdb3_local, "Processing complete")
''',
}

SCHEDULED_PLUGIN = {
    "config.py": '''
# Configuration constants
METRIC_NAME = "system_status"
CHECK_INTERVAL = 5
''',
    "monitoring.py": '''
import random

def get_system_metrics():
    """Simulate getting system metrics"""
    return {
        'cpu': random.uniform(10, 90),
        'memory': random.uniform(20, 80),
        'disk': random.uniform(30, 70)
    }

def create_metric_lines(metrics):
    """Create LineBuilder objects for metrics"""
    lines = []
    for metric, value in metrics.items():
        line = LineBuilder(METRIC_NAME)  # METRIC_NAME will be available from config.py
        line.tag("type", metric)
        line.float64_field("value", value)
        lines.append(line)
    return lines
''',
    ENTRY: '''
def process_scheduled_call(influxdb3_local, schedule_time, args=None):
    """Scheduled plugin to collect and write system metrics"""
    influxdb3_local.info(f"Scheduled check at {schedule_time}")

    # Get system metrics - functions from other files are available in global namespace
    metrics = get_system_metrics()

    # Format and write metrics
    for line in create_metric_lines(metrics):
        influxdb3_local.write(line)

    influxdb3_local.info(f"Wrote {len(metrics)} metrics")
''',
}

BROKEN_PLUGIN = {
    "helper.py": '''
def helper_function():
    return "help"
''',
    ENTRY: '''
# This import should fail because 'nonexistent_module' doesn't exist as a third-party module
import nonexistent_module

def process_writes(influxdb3_local, table_batches, args=None):
    # Try to use the nonexistent module
    nonexistent_module.do_something()
    # helper_function is available from global namespace
    helper_function()
''',
}

NO_ENTRY_PLUGIN = {  # the entry file is missing
    "helper.py": '''
def helper_function():
    return "help"
''',
    "other.py": '''
def process_writes(influxdb3_local, table_batches, args=None):
    pass
''',
}


def build(plugin_dir: Path, name: str, files: dict[str, str], entry: str) -> Path:
    """Upstream's `PluginDirBuilder`: `<plugin_dir>/<name>/` holding `files`."""
    directory = plugin_dir / name
    for file_name, source in files.items():
        path = directory / (entry if file_name == ENTRY else file_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source)
    return directory


def rows_eventually(server, ca, db: str, sql: str) -> list[dict]:
    def rows():
        result = cli(server, "query", "-d", db, "--format", "json", *ca, sql)
        return json.loads(result.stdout) if result.returncode == 0 else None
    return wait_for(rows, timeout=60)


def check_scheduled(result: dict) -> None:
    assert result["errors"] == [], result["errors"]
    assert any("Scheduled check" in line for line in result["log_lines"])
    assert any("Wrote 3 metrics" in line for line in result["log_lines"])
    writes = result["database_writes"]["metrics_db"]
    assert len(writes) == 3  # cpu, memory, disk
    for kind in ("cpu", "memory", "disk"):
        assert any(f"type={kind}" in line for line in writes)


def check_import_error(result) -> None:
    assert result.returncode == 1, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert errors, "expected errors"
    assert "nonexistent_module" in errors[0] or "No module named" in errors[0]
