"""Conditions in the catalog: small boolean expressions over switches and facts.

Allowed: names, string/number/bool literals, `and`, `or`, `not`, comparisons (== != < <= > >=),
parentheses. `version` compares as a dotted version: ``version < '6.2'``.
"""
from __future__ import annotations

import ast
from functools import lru_cache
from typing import Any, Mapping

_ALLOWED = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.Compare,
            ast.Name, ast.Load, ast.Constant, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE)


class ExpressionError(ValueError):
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
