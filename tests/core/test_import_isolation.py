"""The engine is the pure core: importing it must not bring in the shell's libraries.

Each check runs in a fresh interpreter, since this test process has long imported them all.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SHELL_LIBRARIES = ("sqlalchemy", "requests", "kazoo", "fastapi", "uvicorn")

PROBE = """
import json, sys
import {module}
loaded = sorted({{name.split(".")[0] for name in sys.modules}})
print(json.dumps({{"loaded": loaded, "has_module": {module!r} in sys.modules}}))
"""


def _top_level_modules_after_import(module: str) -> tuple[set[str], bool]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return set(answer["loaded"]), answer["has_module"]


@pytest.mark.parametrize("module", ["moroccron.engine", "moroccron.events", "moroccron.model", "moroccron.dag"])
def test_the_pure_core_loads_no_shell_library(module: str) -> None:
    loaded, imported = _top_level_modules_after_import(module)
    assert imported
    assert "moroccron" in loaded
    assert sorted(loaded & set(SHELL_LIBRARIES)) == [], f"{module} pulls in shell libraries"


def test_the_probe_sees_a_shell_library_when_one_is_imported() -> None:
    """The check above can fail: the store does load SQLAlchemy."""
    loaded, imported = _top_level_modules_after_import("moroccron.store")
    assert imported
    assert "sqlalchemy" in loaded
