"""What the code says about itself, read statically: the import graph of ``chalicelib`` and which
functions of a service write. ``infra/package.py`` derives each unit's IAM grants from it (so a
grant cannot drift from the code) and ``tests/test_layering.py`` checks the core's layering.

Every import counts: module level or inside a function, ``from x import y`` (``x.y`` when ``y`` is
a module), and module names handed to ``lazy_module`` / ``load`` / ``importlib.import_module``.
"""

from __future__ import annotations

import ast
import os
from functools import cache

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DYNAMIC = {"lazy_module", "load", "import_module"}
# A call to one of these (as ``x.save(...)`` or ``save(...)``) writes DynamoDB.
WRITE_CALLS = {"save", "update", "delete", "batch_write", "transaction", "emit", "publish", "schedule", "cancel"}


def module_path(module: str) -> str | None:
    base = os.path.join(ROOT, *module.split("."))
    for p in (base + ".py", os.path.join(base, "__init__.py")):
        if os.path.exists(p):
            return p
    return None


def imports_of(path: str, package: str) -> set[str]:
    """Every module name the file at ``path`` (in ``package``) names in an import."""
    tree = ast.parse(open(path).read(), path)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Call):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", None)
            if name in DYNAMIC and node.args and isinstance(node.args[0], ast.Constant | ast.JoinedStr):
                arg = node.args[0]
                text = arg.value if isinstance(arg, ast.Constant) else "".join(
                    v.value if isinstance(v, ast.Constant) else "{}" for v in arg.values)
                out.add(str(text))
    return out


def _package_of(module: str, path: str) -> str:
    return module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]


@cache
def direct_imports(module: str) -> frozenset[str]:
    """The ``chalicelib`` modules ``module`` imports (names resolved to real module files)."""
    path = module_path(module)
    if path is None:
        return frozenset()
    out = set()
    for name in imports_of(path, _package_of(module, path)):
        if not name.startswith("chalicelib") or "{}" in name:
            continue
        while name and module_path(name) is None:
            name = name.rsplit(".", 1)[0] if "." in name else ""
        if name and name != module:
            out.add(name)
    return frozenset(out)


def closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        m = todo.pop()
        if m in seen:
            continue
        seen.add(m)
        todo.extend(direct_imports(m))
    return seen


def domain_modules(domain: str) -> list[str]:
    folder = os.path.join(ROOT, "chalicelib", domain)
    return sorted(f"chalicelib.{domain}.{f[:-3]}" for f in os.listdir(folder)
                  if f.endswith(".py") and f != "__init__.py")


@cache
def writers(module: str) -> frozenset[str]:
    """Top-level functions of ``module`` that write DynamoDB, directly or through another
    function of the same module."""
    path = module_path(module)
    if path is None:
        return frozenset()
    tree = ast.parse(open(path).read(), path)
    calls: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names = set()
            for sub in ast.walk(node):
                if isinstance(sub, ast.Call):
                    f = sub.func
                    names.add(f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", ""))
            calls[node.name] = names
    writing = {fn for fn, names in calls.items() if names & WRITE_CALLS}
    changed = True
    while changed:
        changed = False
        for fn, names in calls.items():
            if fn not in writing and names & writing:
                writing.add(fn)
                changed = True
    return frozenset(writing)


def _client_of(node: ast.AST | None) -> str | None:
    """``calls.client("payments")`` → ``chalicelib.payments.calls``: a synchronous call client
    (``chalicelib/calls.py``) stands for the callee's ``calls`` module."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "client" \
            and getattr(node.func.value, "id", None) == "calls" and node.args and isinstance(node.args[0], ast.Constant):
        return f"chalicelib.{node.args[0].value}.calls"
    return None


def accessors_of(module: str, target: str) -> set[str]:
    """Functions of ``module`` that import ``target`` (or make its call client) and return it
    (``peers.payments()``)."""
    path = module_path(module)
    if path is None:
        return set()
    pkg, _, leaf = target.rpartition(".")
    out = set()
    for node in ast.parse(open(path).read(), path).body:
        if isinstance(node, ast.FunctionDef):
            bound = {a.asname or a.name for i in ast.walk(node) if isinstance(i, ast.ImportFrom) and i.module == pkg
                     for a in i.names if a.name == leaf}
            returns = [r.value for r in ast.walk(node) if isinstance(r, ast.Return)]
            if {r.id for r in returns if isinstance(r, ast.Name)} & bound or any(_client_of(r) == target for r in returns):
                out.add(node.name)
    return out


def _is_accessor_call(node: ast.AST, accessors: set[str]) -> bool:
    if not isinstance(node, ast.Call):
        return False
    f = node.func
    return getattr(f, "id", None) in accessors or isinstance(f, ast.Attribute) and f.attr in accessors


def calls_into(module: str, target: str, accessors: set[str] | None = None) -> set[str]:
    """Names of ``target``'s functions that ``module`` calls: ``alias.fn(...)`` where ``alias`` is
    bound to ``target`` by an import anywhere in the module (or, for a ``calls`` module, to its
    call client: ``payments = calls.client("payments")``), or ``acc().fn(...)`` / ``x = acc();
    x.fn(...)`` where ``acc`` is an accessor (``accessors_of``; pass the package's own)."""
    path = module_path(module)
    if path is None:
        return set()
    tree = ast.parse(open(path).read(), path)
    pkg, _, leaf = target.rpartition(".")
    aliases = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == pkg:
            aliases.update(a.asname or a.name for a in node.names if a.name == leaf)
        elif isinstance(node, ast.Import):
            aliases.update(a.asname for a in node.names if a.name == target and a.asname)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            f = node.value.func
            if getattr(f, "id", None) == "lazy_module" and node.value.args and \
                    getattr(node.value.args[0], "value", None) == target or _client_of(node.value) == target:
                aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    accessors = set(accessors or ()) | accessors_of(module, target)
    for node in ast.walk(tree):  # ``pay = _payments()``
        if isinstance(node, ast.Assign) and _is_accessor_call(node.value, accessors):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if isinstance(owner, ast.Name) and owner.id in aliases or _is_accessor_call(owner, accessors):
                out.add(node.func.attr)
    return out
