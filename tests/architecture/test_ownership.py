"""The architecture rules that tests can see: each collection has one owning module, and
the import layers of pyproject.toml ([tool.importlinter]) hold."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.common import ROOT

PACKAGE = ROOT / "platform" / "photoshare"

# Collection (attribute of a pymongo Database) -> the only module that may touch it.
OWNERS = {
    "photos": "repositories/photos.py",
    "photo_attention": "repositories/photo_attention.py",
    "albums": "repositories/albums.py",
    "users": "repositories/users.py",
    "api_keys": "repositories/api_keys.py",
    "site_settings": "repositories/site_settings.py",
    "invites": "repositories/invites.py",
    "password_resets": "repositories/password_resets.py",
    "exports": "repositories/exports.py",
    "fs": "repositories/photo_files.py",
    "share_links": "repositories/share_links.py",
    "sessions": "repositories/sessions.py",
}


def _touches(tree: ast.AST) -> dict[str, list[int]]:
    """Lines where a module reaches a collection: `db.photos`, `db["photos"]`,
    `get_collection("photos")`."""
    found: dict[str, list[int]] = {}
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Attribute) and node.attr in OWNERS and isinstance(node.value, ast.Name) \
                and node.value.id in ("db", "database", "self.db"):
            name = node.attr
        elif isinstance(node, ast.Attribute) and node.attr in OWNERS and isinstance(node.value, ast.Attribute) \
                and node.value.attr == "db":
            name = node.attr
        elif isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) \
                and node.slice.value in OWNERS and isinstance(node.value, ast.Name) and node.value.id == "db":
            name = node.slice.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "get_collection" and node.args and isinstance(node.args[0], ast.Constant) \
                and node.args[0].value in OWNERS:
            name = node.args[0].value
        if name:
            found.setdefault(name, []).append(node.lineno)
    return found


def test_the_scan_sees_every_way_of_reaching_a_collection():
    source = 'db.photos.find()\nctx.db.users.find()\ndb["albums"].find()\ndb.get_collection("fs").find()\n'
    assert _touches(ast.parse(source)) == {"photos": [1], "users": [2], "albums": [3], "fs": [4]}


def test_each_collection_is_touched_only_by_its_repository():
    trespasses = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for collection, lines in _touches(ast.parse(path.read_text(), str(path))).items():
            if relative != OWNERS[collection]:
                trespasses.append(f"{relative}:{lines} touches {collection} (owner: {OWNERS[collection]})")
    assert trespasses == []


def test_import_layers_hold():
    lint_imports = Path(sys.executable).with_name("lint-imports")
    if not lint_imports.exists():
        pytest.fail("lint-imports is not installed: run `make setup`")
    result = subprocess.run([str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
