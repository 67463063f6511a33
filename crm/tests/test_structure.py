"""Structure rules that code review kept finding: one home for permission classes, and models
that do not reach up into selectors or services."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ["accounts", "chats", "orders", "media", "operators", "workspace", "compat", "crm"]


def _modules() -> list[Path]:
    return [
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "tests" not in path.parts and "migrations" not in path.parts
    ]


def _imports(path: Path) -> set[str]:
    """Every module the file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_models_import_no_selectors_or_services():
    offenders = []
    for path in _modules():
        if path.name != "models.py":
            continue
        app = path.parent.name
        for module in _imports(path):
            if module.startswith((f"{app}.selectors", f"{app}.services")):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert not offenders, offenders


def test_permission_classes_live_in_crm_permissions():
    elsewhere = []
    for path in _modules():
        if path == ROOT / "crm" / "permissions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                getattr(base, "id", getattr(base, "attr", "")) == "BasePermission"
                for base in node.bases
            ):
                elsewhere.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert not elsewhere, elsewhere


CODE_APPS = [
    "accounts",
    "orders",
    "media",
    "operators",
    "chats",
    "connectors",
    "automation",
    "compat",
]
# Helpers that take the error code as a positional argument.
CODE_TAKING_CALLS = {"FrameError", "_send_error", "_error"}


def test_error_codes_come_from_each_apps_error_codes_module():
    """``code="..."`` literals drift (two spellings of one error): each app names its codes once
    in ``<app>/error_codes.py``, and services, API views, consumers and connectors use the names."""
    import re

    literal = re.compile(r'(?:\bcode\s*=\s*|"code"\s*:\s*)"[a-z_]+"')
    code_like = re.compile(r"^[a-z][a-z_]*$")
    offenders = []
    for app in CODE_APPS:
        for path in (ROOT / app).rglob("*.py"):
            if {"tests", "migrations", "standins"} & set(
                path.parts
            ) or path.name == "error_codes.py":
                continue
            text = path.read_text()
            where = path.relative_to(ROOT)
            offenders += [f"{where}: {match}" for match in literal.findall(text)]
            for node in ast.walk(ast.parse(text)):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", getattr(node.func, "attr", ""))
                if name in CODE_TAKING_CALLS:
                    offenders += [
                        f"{where}:{node.lineno}: {name}({arg.value!r}, ...)"
                        for arg in node.args
                        if isinstance(arg, ast.Constant)
                        and isinstance(arg.value, str)
                        and code_like.match(arg.value)
                    ]
    assert not offenders, offenders


def test_chats_never_imports_operators():
    """The support workflow has one owner per part: chats owns chats, messages, inboxes and
    presence and calls out through ``chats.hooks``; operators (assignment, availability, audit,
    stats) depends on chats and plugs into those hooks. An import of operators anywhere in
    chats, at the top or inside a function, would bring the cycle back."""
    offenders = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in (ROOT / "chats").rglob("*.py")
        if "tests" not in path.parts
        for module in _imports(path)
        if module == "operators" or module.startswith("operators.")
    ]
    assert not offenders, offenders
