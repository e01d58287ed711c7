"""The engine's rooms (``shipyard.engine.ROOMS``, mapped in ``engine/__init__.py``) keep
their arrows pointing down: no module imports a room above its own, no two modules import
each other (directly or round a circle), and the rest of ``shipyard`` reaches the engine
only through ``control`` and ``settings``."""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

import pytest

from shipyard.engine import ROOMS
from tests.importgraph import cycles, graph, imported

SRC = Path(__file__).parent.parent.parent / "src"
ENGINE = "shipyard.engine"
#: The engine's doors for the rest of shipyard (the CLI's ``local`` commands).
DOORS = ("shipyard.engine", "shipyard.engine.control", "shipyard.engine.settings")


def room_of(module: str) -> int:
    """The floor of a module of the engine; the package itself is the map, on top."""
    if module == ENGINE:
        return len(ROOMS)
    first = module[len(ENGINE) + 1:].split(".")[0]
    for floor, names in enumerate(ROOMS):
        if first in names:
            return floor
    raise AssertionError(f"{module} is in no room of shipyard.engine.ROOMS: add it to the map")


def upward(edges: dict[str, set[str]]) -> list[str]:
    return sorted(f"{source} -> {target}" for source, targets in edges.items()
                  for target in targets if room_of(target) > room_of(source))


def test_every_arrow_between_rooms_points_down() -> None:
    assert upward(graph(SRC, ENGINE)) == []


def test_no_engine_modules_import_each_other_round_a_circle() -> None:
    assert cycles(graph(SRC, ENGINE)) == []


def test_the_rest_of_shipyard_enters_the_engine_only_by_its_doors() -> None:
    outside = [path for path in (SRC / "shipyard").rglob("*.py")
               if (SRC / "shipyard" / "engine") not in path.parents]
    offenders = sorted(f"{path.relative_to(SRC)} imports {name}" for path in outside
                       for name in imported(path)
                       if name.startswith(ENGINE) and name not in DOORS)
    assert offenders == []


def test_the_walk_sees_arrows_the_rules_refuse(tmp_path: Path) -> None:
    """The checks above can fail: a planted upward import and a planted circle are found."""
    package = tmp_path / "shipyard" / "engine"
    (package / "model").mkdir(parents=True)
    (package / "api").mkdir()
    (package / "__init__.py").write_text("")
    (package / "model" / "__init__.py").write_text("")
    (package / "api" / "__init__.py").write_text("")
    (package / "model" / "docs.py").write_text(
        "def f():\n    from shipyard.engine.api import app\n")
    (package / "api" / "app.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
        "    from shipyard.engine.model import docs\n")
    edges = graph(tmp_path, ENGINE)
    assert upward(edges) == ["shipyard.engine.model.docs -> shipyard.engine.api.app"]
    assert cycles(edges) == [["shipyard.engine.api.app", "shipyard.engine.model.docs"]]


def test_a_module_outside_the_map_is_named() -> None:
    with pytest.raises(AssertionError, match=r"shipyard\.engine\.attic\.x is in no room"):
        room_of("shipyard.engine.attic.x")


def unnamed(room: Path) -> list[str]:
    """Modules and packages of ``room`` its ``__init__`` docstring does not name (a name
    may be a pattern such as ``routes_*.py``)."""
    doc = ast.get_docstring(ast.parse((room / "__init__.py").read_text())) or ""
    named = re.findall(r"[\w*]+\.py|\w+/", doc)
    entries = [p.name if p.is_file() else p.name + "/" for p in sorted(room.iterdir())
               if (p.suffix == ".py" and p.name != "__init__.py")
               or (p.is_dir() and (p / "__init__.py").exists())]
    return [e for e in entries if not any(fnmatch.fnmatch(e, n) for n in named)]


@pytest.mark.parametrize("room", sorted(
    p.name for p in (SRC / "shipyard" / "engine").iterdir() if (p / "__init__.py").exists()))
def test_each_room_map_names_every_module_in_it(room: str) -> None:
    assert unnamed(SRC / "shipyard" / "engine" / room) == []


def test_the_engine_map_names_every_room_and_root_module() -> None:
    assert unnamed(SRC / "shipyard" / "engine") == []
