"""Conditions in the catalog: small boolean expressions over switches and facts.

Allowed: names, string/number/bool literals, `and`, `or`, `not`, comparisons (== != < <= > >=),
parentheses. `version` compares as a dotted version: ``version < '6.2'``.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any, Mapping

from ..contract import InputError

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare,
            ast.Name, ast.Load, ast.Constant, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class ExpressionError(InputError):
    """A condition that cannot be parsed or names something unknown."""


def version_key(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in str(text).split("."))
    except ValueError as exc:
        raise ExpressionError(f"not a version: {text!r} (expected digits and dots, e.g. '6.1')") from exc


@lru_cache(maxsize=None)
def parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot parse {text!r}: {exc.msg}") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ExpressionError(f"{type(node).__name__} is not allowed in {text!r}")
    return tree


def names(text: str) -> set[str]:
    return {n.id for n in ast.walk(parse(text)) if isinstance(n, ast.Name)}


def evaluate(text: str, facts: Mapping[str, Any]) -> Any:
    return _eval(parse(text).body, facts)


def _eval(node: ast.AST, facts: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        try:
            return facts[node.id]
        except KeyError:
            raise ExpressionError(f"unknown name {node.id!r}; known: {', '.join(sorted(facts))}") from None
    if isinstance(node, ast.BoolOp):
        values = (_eval(v, facts) for v in node.values)
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp):
        return not _eval(node.operand, facts)
    if isinstance(node, ast.Compare):
        return _compare(node, facts)
    raise ExpressionError(f"unsupported expression node {type(node).__name__}")


_OPS = {ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
        ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b}


def _compare(node: ast.Compare, facts: Mapping[str, Any]) -> bool:
    left_node, left = node.left, _eval(node.left, facts)
    for op, right_node in zip(node.ops, node.comparators):
        right = _eval(right_node, facts)
        a, b = left, right
        if _is_version(left_node) or _is_version(right_node):
            a, b = version_key(left), version_key(right)
        if not _OPS[type(op)](a, b):
            return False
        left_node, left = right_node, right
    return True


def _is_version(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == "version"


# ---- types, checked at load ---------------------------------------------------------------------------------
# A name's type: "bool", "int", "version", or a tuple of the strings it may hold (an enum: layout, backend, a switch).
def check_types(text: str, types: Mapping[str, Any]) -> None:
    """Raise ExpressionError where the condition cannot mean what it says: a comparison of different types
    (layout > 1), a string an enum never holds (hypervisor == 'kvmm'), a version that is not one, a bare name
    that is not a bool, a boolean operator over something that is not a condition."""
    _condition(parse(text).body, types, text)


def _condition(node: ast.AST, types: Mapping[str, Any], text: str) -> None:
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _condition(value, types, text)
    elif isinstance(node, ast.UnaryOp):
        _condition(node.operand, types, text)
    elif isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        for (left, right), op in zip(zip(operands, operands[1:]), node.ops):
            _comparable(left, right, op, types, text)
    elif isinstance(node, ast.Name) and types.get(node.id) != "bool":
        raise ExpressionError(f"{node.id!r} is not a condition in {text!r}; compare it (it holds {_shown(types.get(node.id))})")
    elif isinstance(node, ast.Constant) and not isinstance(node.value, bool):
        raise ExpressionError(f"{node.value!r} is not a condition in {text!r}")


def _kind(node: ast.AST, types: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        return types.get(node.id)
    if isinstance(node, ast.Constant):
        return {bool: "bool", int: "int", str: "str"}.get(type(node.value), "?")
    return "bool"                                    # a nested condition


def _comparable(left: ast.AST, right: ast.AST, op: ast.cmpop, types: Mapping[str, Any], text: str) -> None:
    kinds = (_kind(left, types), _kind(right, types))
    if "version" in kinds:
        other = right if kinds[0] == "version" else left
        if kinds != ("version", "version"):
            if not isinstance(other, ast.Constant) or not isinstance(other.value, str):
                raise ExpressionError(f"version compares with a version string like '6.2' in {text!r}")
            version_key(other.value)
        return
    enum = next((k for k in kinds if isinstance(k, tuple)), None)
    if enum is not None:
        name, other = (left, right) if kinds[0] == enum else (right, left)
        if not isinstance(op, (ast.Eq, ast.NotEq)):
            label = name.id if isinstance(name, ast.Name) else "it"
            raise ExpressionError(f"{label} holds {_shown(enum)}: compare it with == or != in {text!r}")
        if isinstance(other, ast.Constant):
            if other.value not in enum:
                raise ExpressionError(f"{other.value!r} is never a value of it in {text!r}; values: {_shown(enum)}")
        elif _kind(other, types) != enum:
            raise ExpressionError(f"comparing different kinds of value in {text!r}")
        return
    if kinds[0] != kinds[1]:
        raise ExpressionError(f"comparing {_shown(kinds[0])} with {_shown(kinds[1])} in {text!r}")
    if kinds[0] == "bool" and not isinstance(op, (ast.Eq, ast.NotEq)):
        raise ExpressionError(f"booleans compare with == or != only in {text!r}")


def _shown(kind: Any) -> str:
    if isinstance(kind, tuple):
        return "one of " + ", ".join(map(str, kind))
    return f"{'an' if str(kind)[0] in 'aeiou' else 'a'} {kind}" if kind else "nothing known"
