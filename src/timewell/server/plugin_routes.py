"""Plugin code and packages: the plugin file API (list, read, upload, replace) and the plugin
environment (list, install)."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from timewell.engine.environment import PackageManagerDisabled
from timewell.engine.files import listed_time
from timewell.engine.repository import content_version
from timewell.errors import InvalidRequest
from timewell.node import Node
from timewell.server.body import read_json_object, str_field


def routes(node: Node) -> list[Route]:
    limit = node.settings.max_http_request_size
    engine = node.engine

    async def install_packages(request: Request) -> Response:
        data = await read_json_object(request, limit)
        packages = data.get("packages")
        if not isinstance(packages, list) or not packages:
            raise InvalidRequest("'packages' must be a non-empty list of package names")
        return await _installing(engine.environment.install(packages))

    async def install_requirements(request: Request) -> Response:
        data = await read_json_object(request, limit)
        text = str_field(data, "requirements", required=False)
        if text is None:
            path = Path(str_field(data, "requirements_location")).expanduser()
            if not path.is_absolute() and engine.plugins.root is not None:
                path = engine.plugins.root / path
            return await _installing(engine.environment.install(requirements=path))
        # timewell: the file's content, for a client on another machine
        with tempfile.TemporaryDirectory(prefix="timewell-requirements-") as folder:
            path = Path(folder) / "requirements.txt"
            path.write_text(text)
            return await _installing(engine.environment.install(requirements=path))

    async def list_packages(request: Request) -> Response:
        """timewell: the distributions installed in the plugin environment."""
        installed = await run_in_threadpool(engine.environment.installed)
        return JSONResponse({
            "package_manager": engine.environment.manager,
            "packages": [{"name": name, "version": version}
                         for name, version in sorted(installed.items())]})

    # Off the event loop: a file may be megabytes to read, write and hash.
    def read_file(name: str):
        content, stat = engine.files.read(name)
        return content, stat, content_version(content.encode())

    def write_file(name: str, content: str) -> str:
        engine.files.write(name, content)
        return content_version(content.encode())

    async def get_files(request: Request) -> Response:
        """timewell: the plugin directory's files, or (`plugin_name`) one file's text."""
        name = request.query_params.get("plugin_name")
        if name is not None:
            content, stat, version = await run_in_threadpool(read_file, name)
            return JSONResponse({"plugin_name": name, "content": content,
                                 "version": version,
                                 "size_bytes": stat.st_size,
                                 "modified": listed_time(stat.st_mtime_ns)})
        files, truncated = await run_in_threadpool(engine.files.listing)
        root = engine.plugins.root
        return JSONResponse({"plugin_dir": str(root) if root is not None else None,
                             "files": files, "truncated": truncated})

    async def upload_file(request: Request) -> Response:
        data = await read_json_object(request, limit)
        name = str_field(data, "plugin_name")
        content = str_field(data, "content")
        version = await run_in_threadpool(write_file, name, content)
        return JSONResponse({"plugin_name": name, "version": version})

    async def replace_file(request: Request) -> Response:
        data = await read_json_object(request, limit)
        database = request.query_params.get("db") or str_field(data, "db")
        trigger, path = engine.trigger_plugin(database, str_field(data, "plugin_name"))
        content = str_field(data, "content")
        name = trigger.plugin_filename
        if path.is_dir():
            inner = str_field(data, "relative_path", required=False)
            if inner is None:
                raise InvalidRequest(f"trigger '{trigger.name}' runs the plugin directory "
                                     f"{name}: name the file to replace with relative_path, "
                                     "or replace the whole directory with PUT "
                                     "/api/v3/plugins/directory")
            if PurePosixPath(inner).is_absolute() or ".." in PurePosixPath(inner).parts:
                raise InvalidRequest(f"relative_path '{inner}' must stay inside {name}")
            name = f"{name.rstrip('/')}/{inner}"
        version = await run_in_threadpool(write_file, name, content)
        return JSONResponse({"plugin_name": trigger.name, "file": name, "version": version})

    async def replace_directory(request: Request) -> Response:
        data = await read_json_object(request, limit)
        database = request.query_params.get("db") or str_field(data, "db")
        trigger, path = engine.trigger_plugin(database, str_field(data, "plugin_name"))
        files = data.get("files")
        if not isinstance(files, list) or not files or not all(isinstance(f, dict)
                                                               for f in files):
            raise InvalidRequest("'files' must be a non-empty list of "
                                 '{"relative_path": ..., "content": ...}')
        pairs = [(str_field(f, "relative_path"), str_field(f, "content")) for f in files]
        await run_in_threadpool(engine.files.replace_directory, path, pairs)
        return JSONResponse({"plugin_name": trigger.name, "files": len(pairs)})

    environment = "/api/v3/configure/plugin_environment"
    return [
        Route(f"{environment}/install_packages", install_packages, methods=["POST"]),
        Route(f"{environment}/install_requirements", install_requirements, methods=["POST"]),
        Route(f"{environment}/packages", list_packages, methods=["GET"]),
        Route("/api/v3/plugins/files", get_files, methods=["GET"]),
        Route("/api/v3/plugins/files", upload_file, methods=["POST"]),
        Route("/api/v3/plugins/files", replace_file, methods=["PUT"]),
        Route("/api/v3/plugins/directory", replace_directory, methods=["PUT"]),
    ]


async def _installing(install) -> Response:
    try:
        result = await install
    except PackageManagerDisabled as e:
        return JSONResponse({"error": str(e)}, 403)
    return JSONResponse(result.to_json())
