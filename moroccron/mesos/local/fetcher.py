"""The Mesos fetcher, as the local agent runs it: CommandInfo URIs into the sandbox."""

from __future__ import annotations

import ipaddress
import shutil
import stat
import tarfile
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from moroccron.mesos.local.state import _LaunchFailure

__all__ = ["fetch_uri"]


_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".zip")


def fetch_uri(uri: Mapping[str, Any], sandbox: Path) -> None:
    """Fetch one CommandInfo.URI into the sandbox, like the Mesos fetcher (no cache).

    ``file://`` URLs and plain paths are copied; ``http(s)://`` is downloaded only from
    loopback addresses (the local master must not reach out to the network on a job's
    behalf). ``executable`` makes the file executable; otherwise archives are extracted
    into the sandbox when ``extract`` is true (the default), keeping the archive.
    """
    value = uri["value"]
    parts = urllib.parse.urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        source = Path(urllib.parse.unquote(parts.path) if scheme == "file" else value)
        name = uri.get("output_file") or source.name
    elif scheme in ("http", "https"):
        host = parts.hostname or ""
        if not _is_loopback(host):
            raise _LaunchFailure(f"'{value}': the local master only fetches http(s) URIs from loopback hosts")
        source = None
        name = uri.get("output_file") or Path(urllib.parse.unquote(parts.path)).name or "index.html"
    else:
        raise _LaunchFailure(f"'{value}': unsupported URI scheme '{scheme}' (use file://, a path, or http(s)://)")
    destination = (sandbox / name).resolve()
    if not destination.is_relative_to(sandbox.resolve()) or destination == sandbox.resolve():
        raise _LaunchFailure(f"'{value}': output_file '{name}' is outside the sandbox")
    destination.parent.mkdir(parents=True, exist_ok=True)
    try:
        if source is None:
            with urllib.request.urlopen(value, timeout=30) as response, open(destination, "wb") as out:
                shutil.copyfileobj(response, out)
        elif source.is_dir():
            shutil.copytree(source, destination, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination)
    except (OSError, ValueError) as exc:
        raise _LaunchFailure(f"'{value}': {exc}") from None
    if uri.get("executable"):
        mode = destination.stat().st_mode
        destination.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    elif uri.get("extract", True) and destination.is_file() and destination.name.endswith(_ARCHIVE_SUFFIXES):
        _extract(destination, sandbox)


def _extract(archive: Path, into: Path) -> None:
    root = into.resolve()
    try:
        if archive.name.endswith(".zip"):
            with zipfile.ZipFile(archive) as zipped:
                for member in zipped.namelist():
                    if not (root / member).resolve().is_relative_to(root):
                        raise _LaunchFailure(f"'{archive.name}': member '{member}' escapes the sandbox")
                zipped.extractall(root)
        else:
            with tarfile.open(archive) as tarred:
                if hasattr(tarfile, "data_filter"):
                    tarred.extractall(root, filter="data")
                else:  # pragma: no cover - Python < 3.11.4
                    for info in tarred.getmembers():
                        if not (root / info.name).resolve().is_relative_to(root):
                            raise _LaunchFailure(f"'{archive.name}': member '{info.name}' escapes the sandbox")
                    tarred.extractall(root)
    except (OSError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise _LaunchFailure(f"'{archive.name}': cannot extract: {exc}") from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
