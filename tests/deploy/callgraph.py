"""Which boto3 operations each Lambda function can reach, derived from the code.

An AST walk of app.py and chalicelib/: every Chalice handler in app.py is an entry point
(``@app.on_kinesis_record`` / ``@app.lambda_function(name=...)`` by their own names, every
``@app.route`` as ``api_handler``); calls are followed through functions, classes and
methods, resolving receivers from type annotations (chalicelib is ``mypy --strict``, so
every parameter has one), constructor calls and ``self.<attr>`` assignments in
``__init__``. A call whose method is an operation of an AWS client and whose receiver is
not a chalicelib class is a boto3 call; ``get_paginator("op")`` counts as ``op``.

Two ways code reaches code without naming the callee at the call site are followed too:
a chalicelib function passed as a value (``functools.partial(delivery_for_chunk, ...)``)
counts as called by the function that passes it; and a call through a ``Protocol``
(``delivery.send(...)``, with ``delivery`` typed by a ``Callable[..., Delivery]`` alias)
reaches the same method of every class that implements the protocol's methods.

Every boto3 call site found must be reached from some Lambda (or be declared as used
outside Lambda): a call the walk cannot attribute is a failure, not a silent pass.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import botocore.session
from botocore import xform_name

# Services whose operations are recognised; extend when chalicelib calls a new one.
SERVICES = (
    "s3",
    "kinesis",
    "stepfunctions",
    "logs",
    "iam",
    "lambda",
    "cloudwatch",
    "firehose",
    "sts",
    "secretsmanager",
    "sqs",
    "sns",
    "dynamodb",
    "kms",
    "apigateway",
)
# Receiver-name hints that settle an operation name several services share.
SERVICE_HINTS = {
    "s3": "s3",
    "kinesis": "kinesis",
    "sfn": "stepfunctions",
    "stepfunctions": "stepfunctions",
    "states": "stepfunctions",
    "logs": "logs",
    "cwl": "logs",
    "iam": "iam",
    "lambda": "lambda",
    "cloudwatch": "cloudwatch",
    "firehose": "firehose",
}
CLIENT_METHODS_NOT_OPERATIONS = {"get_paginator", "get_waiter", "can_paginate"}
# Key prefix, in a function's name -> type map, of a Callable-typed name: what calling it returns.
_CALLS = "()"


@cache
def operations() -> dict[str, frozenset[str]]:
    """snake_case operation name -> the services that have it."""
    session = botocore.session.get_session()
    out: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for op in model.operation_names:
            out.setdefault(xform_name(op), set()).add(service)
    return {k: frozenset(v) for k, v in out.items()}


@dataclass(frozen=True)
class BotoCall:
    """One boto3 call site."""

    function: str  # qualified name of the enclosing function or method
    service: str
    operation: str  # snake_case
    line: int


@dataclass
class _Module:
    name: str
    tree: ast.Module
    imports: dict[str, str] = field(default_factory=dict)  # local name -> qualified name


class CallGraph:
    """Functions, classes and calls of app.py + chalicelib/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.modules: dict[str, _Module] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.function_module: dict[str, str] = {}
        self.function_class: dict[str, str | None] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        self.attr_types: dict[str, dict[str, str]] = {}  # class -> self attr -> class
        self.boto_calls: list[BotoCall] = []
        self.ambiguous: list[str] = []
        self.edges: dict[str, set[str]] = {}
        self.aliases: dict[str, ast.expr] = {}  # module-level X = Callable[...] etc.
        paths = [root / "app.py", *sorted((root / "chalicelib").rglob("*.py"))]
        for path in paths:
            self._index(path)
        for qualname in self.functions:
            self._walk(qualname)

    # -- indexing -------------------------------------------------------------------

    def _module_name(self, path: Path) -> str:
        rel = path.relative_to(self.root).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        return ".".join(parts)

    def _index(self, path: Path) -> None:
        name = self._module_name(path)
        module = _Module(name, ast.parse(path.read_text()))
        self.modules[name] = module
        for node in module.tree.body:
            if isinstance(node, ast.ImportFrom) and node.module:
                base = node.module
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = f"{base}.{alias.name}"
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = alias.name
            elif (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                self.aliases[f"{name}.{node.targets[0].id}"] = node.value
            elif isinstance(node, ast.FunctionDef):
                self._add_function(f"{name}.{node.name}", node, name, None)
            elif isinstance(node, ast.ClassDef):
                cls = f"{name}.{node.name}"
                self.classes[cls] = node
                for item in node.body:
                    if isinstance(item, ast.FunctionDef):
                        self._add_function(f"{cls}.{item.name}", item, name, cls)

    def _add_function(self, qualname: str, node: ast.FunctionDef, module: str, cls: str | None) -> None:
        self.functions[qualname] = node
        self.function_module[qualname] = module
        self.function_class[qualname] = cls

    def _resolve_name(self, module: str, name: str) -> str | None:
        """A name in a module -> the qualified chalicelib/app function, class or module."""
        local = f"{module}.{name}"
        if local in self.functions or local in self.classes or local in self.aliases:
            return local
        target = self.modules[module].imports.get(name)
        known = (self.functions, self.classes, self.modules, self.aliases)
        if target and any(target in k for k in known):
            return target
        return None

    def _callable_return(self, module: str, node: ast.expr | None) -> str | None:
        """The class a ``Callable[..., X]`` annotation (or an alias of one) returns."""
        if isinstance(node, ast.Name):
            target = self._resolve_name(module, node.id)
            if target in self.aliases:
                return self._callable_return(target.rsplit(".", 1)[0], self.aliases[target])
            return None
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value).endswith("Callable")
            and isinstance(node.slice, ast.Tuple)
            and len(node.slice.elts) == 2
        ):
            return self._annotation_class(module, node.slice.elts[1])
        return None

    def _annotation_class(self, module: str, node: ast.expr | None) -> str | None:
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node = ast.parse(node.value, mode="eval").body
        if isinstance(node, ast.BinOp):  # X | None
            return self._annotation_class(module, node.left) or self._annotation_class(module, node.right)
        if isinstance(node, ast.Name):
            target = self._resolve_name(module, node.id)
            return target if target in self.classes else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = self._resolve_name(module, node.value.id)
            if base in self.modules:
                candidate = f"{base}.{node.attr}"
                return candidate if candidate in self.classes else None
        return None

    # -- walking --------------------------------------------------------------------

    def _self_attr_types(self, cls: str) -> dict[str, str]:
        if cls in self.attr_types:
            return self.attr_types[cls]
        types: dict[str, str] = {}
        self.attr_types[cls] = types
        init = self.functions.get(f"{cls}.__init__")
        if init is None:
            return types
        module = self.function_module[f"{cls}.__init__"]
        params = self._param_types(module, init)
        for node in ast.walk(init):
            if isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    if (
                        isinstance(target, ast.Attribute)
                        and isinstance(target.value, ast.Name)
                        and target.value.id == "self"
                        and node.value is not None
                    ):
                        kind = self._expr_type(module, node.value, params, None)
                        if kind:
                            types[target.attr] = kind
        return types

    def _param_types(self, module: str, fn: ast.FunctionDef) -> dict[str, str]:
        out = {}
        for arg in [*fn.args.args, *fn.args.kwonlyargs]:
            kind = self._annotation_class(module, arg.annotation)
            if kind:
                out[arg.arg] = kind
        return out

    def _expr_type(self, module: str, node: ast.expr, names: dict[str, str], cls: str | None) -> str | None:
        """The chalicelib class an expression evaluates to, when the code says so."""
        if isinstance(node, ast.Name):
            if node.id == "self" and cls:
                return cls
            return names.get(node.id)
        if isinstance(node, ast.Attribute):
            owner = self._expr_type(module, node.value, names, cls)
            if owner:
                return self._self_attr_types(owner).get(node.attr)
            return None
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name) and _CALLS + node.func.id in names:
                return names[_CALLS + node.func.id]
            target = self._call_target(module, node, names, cls)
            if target in self.classes:
                return target
            if target in self.functions:
                return self._annotation_class(self.function_module[target], self.functions[target].returns)
        return None

    def _call_target(self, module: str, call: ast.Call, names: dict[str, str], cls: str | None) -> str | None:
        func = call.func
        if isinstance(func, ast.Name):
            return self._resolve_name(module, func.id)
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name):
                base = self._resolve_name(module, func.value.id)
                if base in self.modules:
                    candidate = f"{base}.{func.attr}"
                    if candidate in self.functions or candidate in self.classes:
                        return candidate
            owner = self._expr_type(module, func.value, names, cls)
            if owner:
                return self._method(owner, func.attr)
        return None

    def _method(self, cls: str, name: str) -> str | None:
        candidate = f"{cls}.{name}"
        if candidate in self.functions:
            return candidate
        node = self.classes[cls]
        module = cls.rsplit(".", 1)[0]
        for base in node.bases:
            base_cls = self._annotation_class(module, base)
            if base_cls:
                found = self._method(base_cls, name)
                if found:
                    return found
        return None

    def _local_types(self, module: str, fn: ast.FunctionDef, cls: str | None) -> dict[str, str]:
        names = self._param_types(module, fn)
        for arg in [*fn.args.args, *fn.args.kwonlyargs]:
            returns = self._callable_return(module, arg.annotation)
            if returns:
                names[_CALLS + arg.arg] = returns
        for _ in range(2):  # assignments may build on each other
            for node in ast.walk(fn):
                if isinstance(node, ast.Assign) and len(node.targets) == 1:
                    target = node.targets[0]
                    if isinstance(target, ast.Name):
                        kind = self._expr_type(module, node.value, names, cls)
                        if kind:
                            names[target.id] = kind
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                    kind = self._annotation_class(module, node.annotation)
                    if kind:
                        names[node.target.id] = kind
        return names

    def _walk(self, qualname: str) -> None:
        fn = self.functions[qualname]
        module = self.function_module[qualname]
        cls = self.function_class[qualname]
        names = self._local_types(module, fn, cls)
        edges = self.edges.setdefault(qualname, set())
        called = {id(n.func) for n in ast.walk(fn) if isinstance(n, ast.Call)}
        for node in ast.walk(fn):
            if isinstance(node, ast.Name) and id(node) not in called and isinstance(node.ctx, ast.Load):
                passed = self._resolve_name(module, node.id)
                if passed in self.functions:
                    edges.add(passed)  # a function passed as a value may be called
            if not isinstance(node, ast.Call):
                continue
            target = self._call_target(module, node, names, cls)
            if target in self.classes:
                init = self._method(target, "__init__")
                if init:
                    edges.add(init)
                continue
            if target in self.functions:
                edges.add(target)
                edges.update(self._implementations(target))
                continue
            if isinstance(node.func, ast.Attribute):
                self._maybe_boto(qualname, node, names, module, cls)
        # Decorators of handlers are wiring, not calls worth following.

    def _implementations(self, method: str) -> set[str]:
        """For a method of a Protocol class: the same method of every class implementing it."""
        cls = self.function_class.get(method)
        if cls is None or not any(ast.unparse(b).endswith("Protocol") for b in self.classes[cls].bases):
            return set()
        wanted = {i.name for i in self.classes[cls].body if isinstance(i, ast.FunctionDef)}
        name = method.rsplit(".", 1)[1]
        found = set()
        for other, node in self.classes.items():
            defined = {i.name for i in node.body if isinstance(i, ast.FunctionDef)}
            if other != cls and wanted <= defined:
                found.add(f"{other}.{name}")
        return found

    def _maybe_boto(
        self, qualname: str, call: ast.Call, names: dict[str, str], module: str, cls: str | None
    ) -> None:
        func = call.func
        assert isinstance(func, ast.Attribute)
        if self._expr_type(module, func.value, names, cls):
            return  # a chalicelib object's method the walk could not find: not boto3
        op = func.attr
        if op == "get_paginator" and call.args and isinstance(call.args[0], ast.Constant):
            op = str(call.args[0].value)
        elif op in CLIENT_METHODS_NOT_OPERATIONS:
            return
        services = operations().get(op)
        if not services:
            return
        service = self._pick_service(op, services, func.value, call)
        if service is None:
            self.ambiguous.append(f"{qualname}:{call.lineno} {op} in {sorted(services)}")
            return
        self.boto_calls.append(BotoCall(qualname, service, op, call.lineno))

    @staticmethod
    def _pick_service(op: str, services: frozenset[str], receiver: ast.expr, call: ast.Call) -> str | None:
        if len(services) == 1:
            return next(iter(services))
        # _client("s3").op(...) names its service; self._s3.op(...) hints at it.
        if (
            isinstance(receiver, ast.Call)
            and receiver.args
            and isinstance(receiver.args[0], ast.Constant)
            and receiver.args[0].value in services
        ):
            return str(receiver.args[0].value)
        text = ast.unparse(receiver).lower()
        for hint, service in SERVICE_HINTS.items():
            if hint in text and service in services:
                return service
        return None

    # -- queries --------------------------------------------------------------------

    def entry_points(self) -> dict[str, list[str]]:
        """Lambda function name -> the app.py handlers it runs."""
        return {name: handlers for name, (handlers, _) in self._entries().items()}

    def triggers(self) -> dict[str, str]:
        """Lambda function name -> the app decorator that creates it (route, on_kinesis_record)."""
        return {name: trigger for name, (_, trigger) in self._entries().items()}

    def _entries(self) -> dict[str, tuple[list[str], str]]:
        out: dict[str, tuple[list[str], str]] = {}
        for node in self.modules["app"].tree.body:
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                call = decorator if isinstance(decorator, ast.Call) else None
                func = call.func if call else decorator
                if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
                    continue
                if func.value.id != "app":
                    continue
                if func.attr == "route":
                    name = "api_handler"
                elif func.attr == "lambda_function" and call is not None:
                    keywords = {k.arg: k.value for k in call.keywords}
                    given = keywords.get("name")
                    name = str(given.value) if isinstance(given, ast.Constant) else node.name
                elif func.attr.startswith("on_") or func.attr in {"schedule", "lambda_function"}:
                    name = node.name
                else:
                    continue
                handlers, _ = out.setdefault(name, ([], func.attr))
                handlers.append(f"app.{node.name}")
        return out

    def reachable(self, starts: Iterable[str]) -> set[str]:
        """Every function reachable from the given ones."""
        seen: set[str] = set()
        stack = list(starts)
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(self.edges.get(current, ()))
        return seen

    def calls_of(self, lambda_name: str) -> list[BotoCall]:
        """The boto3 calls a Lambda function can make."""
        reached = self.reachable(self.entry_points()[lambda_name])
        return [c for c in self.boto_calls if c.function in reached]
