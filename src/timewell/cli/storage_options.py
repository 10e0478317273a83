"""`timewell serve` flags for storage: the S3 object store, snapshots and deletes."""

from __future__ import annotations

import click

from timewell.config import StorageSettings
from timewell.duration import parse_duration_ns
from timewell.storage.snapshot import parse_memory_threshold


def _env(name: str) -> list[str]:
    return [f"TIMEWELL_{name}", f"INFLUXDB3_{name}"]


_OPTIONS = [
    click.option("--bucket", default=None, envvar=_env("BUCKET"),
                 help="S3 bucket (with --object-store s3)."),
    click.option("--aws-endpoint", default=None, envvar=[*_env("AWS_ENDPOINT"), "AWS_ENDPOINT"],
                 help="S3-compatible endpoint URL, e.g. http://127.0.0.1:9000."),
    click.option("--aws-access-key-id", default=None,
                 envvar=[*_env("AWS_ACCESS_KEY_ID"), "AWS_ACCESS_KEY_ID"]),
    click.option("--aws-secret-access-key", default=None,
                 envvar=[*_env("AWS_SECRET_ACCESS_KEY"), "AWS_SECRET_ACCESS_KEY"]),
    click.option("--aws-default-region", default=None,
                 envvar=[*_env("AWS_DEFAULT_REGION"), "AWS_DEFAULT_REGION"]),
    click.option("--aws-allow-http", is_flag=True, envvar=_env("AWS_ALLOW_HTTP"),
                 help="Allow a plain-HTTP S3 endpoint."),
    click.option("--gen1-duration", default="10m", show_default=True,
                 envvar=_env("GEN1_DURATION"), help="Time span of one Parquet file's rows."),
    click.option("--wal-snapshot-size", type=int, default=600, show_default=True,
                 envvar=_env("WAL_SNAPSHOT_SIZE"),
                 help="Snapshot the buffer to Parquet after this many WAL flushes."),
    click.option("--force-snapshot-mem-threshold", default="5%", show_default=True,
                 envvar=_env("FORCE_SNAPSHOT_MEM_THRESHOLD"),
                 help="Snapshot earlier when buffered data passes this (e.g. 5%, 512MiB)."),
    click.option("--parquet-mem-cache-size", default="20%", show_default=True,
                 envvar=_env("PARQUET_MEM_CACHE_SIZE"),
                 help="Memory for decoded row groups of recent Parquet files, kept for "
                      "repeated queries (e.g. 20%, 512MiB)."),
    click.option("--parquet-mem-cache-query-path-duration", default="5h", show_default=True,
                 envvar=_env("PARQUET_MEM_CACHE_QUERY_PATH_DURATION"),
                 help="Cache what queries read from files with rows newer than this."),
    click.option("--disable-parquet-mem-cache", is_flag=True,
                 envvar=_env("DISABLE_PARQUET_MEM_CACHE"),
                 help="Read Parquet files for every query (no decoded row groups kept)."),
    click.option("--maintenance-interval", default="30s", show_default=True,
                 envvar=_env("MAINTENANCE_INTERVAL"),
                 help="How often retention, hard deletes and compaction run."),
    click.option("--hard-delete-default-duration", default="72h", show_default=True,
                 envvar=_env("HARD_DELETE_DEFAULT_DURATION"),
                 help="How long deleted databases and tables keep their files."),
]


def storage_options(command):
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def storage_settings(bucket, aws_endpoint, aws_access_key_id, aws_secret_access_key,
                     aws_default_region, aws_allow_http, gen1_duration, wal_snapshot_size,
                     force_snapshot_mem_threshold, parquet_mem_cache_size,
                     parquet_mem_cache_query_path_duration, disable_parquet_mem_cache,
                     maintenance_interval, hard_delete_default_duration) -> StorageSettings:
    """The flags as settings; click.BadParameter naming the flag for any bad value."""
    gen1 = _parsed(parse_duration_ns, gen1_duration, "--gen1-duration")
    if gen1 < 60_000_000_000:
        raise click.BadParameter("must be at least 1m", param_hint="--gen1-duration")
    if wal_snapshot_size < 1:
        raise click.BadParameter("must be at least 1", param_hint="--wal-snapshot-size")
    return StorageSettings(
        bucket=bucket, aws_endpoint=aws_endpoint, aws_access_key_id=aws_access_key_id,
        aws_secret_access_key=aws_secret_access_key, aws_default_region=aws_default_region,
        aws_allow_http=aws_allow_http, gen1_duration_ns=gen1, wal_snapshot_size=wal_snapshot_size,
        snapshot_memory_threshold_bytes=_parsed(parse_memory_threshold,
                                                force_snapshot_mem_threshold,
                                                "--force-snapshot-mem-threshold"),
        hard_delete_default_duration_ns=_parsed(parse_duration_ns, hard_delete_default_duration,
                                                "--hard-delete-default-duration"),
        parquet_cache_bytes=0 if disable_parquet_mem_cache else _parsed(
            parse_memory_threshold, parquet_mem_cache_size, "--parquet-mem-cache-size"),
        parquet_cache_recent_ns=_parsed(parse_duration_ns, parquet_mem_cache_query_path_duration,
                                        "--parquet-mem-cache-query-path-duration"),
        maintenance_interval_s=_parsed(parse_duration_ns, maintenance_interval,
                                       "--maintenance-interval") / 1e9,
    )


def _parsed(parse, value: str, hint: str):
    try:
        return parse(value)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint=hint) from None
