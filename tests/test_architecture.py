"""Imports point one way: api → layers → geo, synth → geo; geo never imports a web or map framework, nor synth."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "geo": {"api", "layers", "cli", "synth", "fastapi", "starlette", "uvicorn", "folium", "jinja2", "matplotlib"},
    "synth": {"api", "layers", "cli", "fastapi", "starlette", "uvicorn", "folium", "jinja2", "matplotlib"},
    "layers": {"api", "cli", "fastapi", "starlette", "uvicorn"},
    "api": {"cli"},
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_import_direction(package):
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & FORBIDDEN[package]) for p in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}
