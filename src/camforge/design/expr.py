"""Safe arithmetic expressions for design spaces: derived metrics and constraints.

A design space writes its physical constraints and derived metrics as short formulas over
named quantities (``z_height_mm <= 7.5``, ``0.5 * (mtf50_corner_sagittal +
mtf50_corner_meridional) * height_px``). They are parsed with :mod:`ast` and evaluated by a
small interpreter that allows only numbers, names, arithmetic, comparisons and a fixed set
of math functions — never Python's ``eval``, so a space file cannot run code.

A constraint is one comparison (``a <= b``, ``a >= b``; a chain ``lo <= x <= hi`` is two
constraints). Its *violation* ``g`` is ``a − b`` for ``<=`` and ``b − a`` for ``>=``:
``g <= 0`` means satisfied (the convention of Optuna's ``constraints_func`` and of BoTorch's
outcome constraints), and ``g`` in the units of the quantity says by how much it is missed.
"""

from __future__ import annotations

import ast
import difflib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from camforge.errors import ConfigError

_FUNCS = {
    "sqrt": math.sqrt, "log": math.log, "log10": math.log10, "log2": math.log2, "exp": math.exp,
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "atan": math.atan, "atan2": math.atan2,
    "asin": math.asin, "acos": math.acos, "radians": math.radians, "degrees": math.degrees,
    "hypot": math.hypot, "abs": abs, "min": min, "max": max, "floor": math.floor, "ceil": math.ceil,
}
_CONSTS = {"pi": math.pi, "e": math.e}
_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b, ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}
_CMP = {ast.Lt: "<=", ast.LtE: "<=", ast.Gt: ">=", ast.GtE: ">="}


def _parse(text: str, what: str) -> ast.Expression:
    if not isinstance(text, str) or not text.strip():
        raise ConfigError(f"{what}: expected a formula, got {text!r}")
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ConfigError(f"{what}: {text!r} is not a valid formula ({e.msg})") from None


def _check(node: ast.AST, text: str, what: str, allow_compare: bool) -> None:
    """Reject anything but numbers, names, arithmetic and whitelisted calls."""
    for n in ast.walk(node):
        ok = isinstance(n, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Load, ast.Constant, ast.Call,
                            ast.USub, ast.UAdd, *(_BINOPS.keys())))
        if allow_compare and isinstance(n, (ast.Compare, *_CMP.keys())):
            ok = True
        if isinstance(n, ast.Constant) and not isinstance(n.value, (int, float)):
            ok = False
        if isinstance(n, ast.Call) and not (isinstance(n.func, ast.Name) and n.func.id in _FUNCS and not n.keywords):
            ok = False
        if not ok:
            raise ConfigError(
                f"{what}: {text!r} uses {type(n).__name__}; formulas may use numbers, names, + - * / ** and "
                f"the functions {', '.join(sorted(_FUNCS))}"
            )


def names_in(node: ast.AST) -> set[str]:
    """Free names of a parsed formula (function names and constants excluded)."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and n.id not in _FUNCS and n.id not in _CONSTS:
            out.add(n.id)
    return out


def unknown_name_error(name: str, known, what: str) -> ConfigError:
    """A ConfigError for an unknown quantity, with close matches."""
    known = sorted(set(known))
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return ConfigError(f"{what}: unknown quantity {name!r}{hint} (known: {', '.join(known)})")


def _eval(node: ast.AST, env: Mapping[str, float], text: str, what: str) -> float:
    if isinstance(node, ast.Expression):
        return _eval(node.body, env, text, what)
    if isinstance(node, ast.Constant):
        return float(node.value)
    if isinstance(node, ast.Name):
        if node.id in _CONSTS:
            return _CONSTS[node.id]
        if node.id not in env:
            raise unknown_name_error(node.id, env.keys(), what)
        v = env[node.id]
        return float("nan") if v is None else float(v)
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env, text, what)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a = _eval(node.left, env, text, what)
        b = _eval(node.right, env, text, what)
        try:
            return float(_BINOPS[type(node.op)](a, b))
        except (ZeroDivisionError, OverflowError, ValueError):
            return float("nan")
    if isinstance(node, ast.Call):
        args = [_eval(a, env, text, what) for a in node.args]
        try:
            return float(_FUNCS[node.func.id](*args))
        except (ValueError, OverflowError, TypeError):
            return float("nan")
    raise ConfigError(f"{what}: cannot evaluate {text!r}")  # pragma: no cover - _check rejects it first


@dataclass(frozen=True)
class Formula:
    """A parsed arithmetic formula (no comparison)."""

    text: str
    what: str = "formula"

    def __post_init__(self):
        tree = _parse(self.text, self.what)
        _check(tree, self.text, self.what, allow_compare=False)
        object.__setattr__(self, "_tree", tree)

    @property
    def names(self) -> set[str]:
        return names_in(self._tree)

    def __call__(self, env: Mapping[str, float]) -> float:
        return _eval(self._tree, env, self.text, self.what)


@dataclass(frozen=True)
class Constraint:
    """One inequality ``lhs <= rhs`` (``>=`` is stored flipped); ``violation(env) = lhs − rhs``."""

    text: str
    lhs: Formula
    rhs: Formula
    sense: str  # the sense as written: "<=" or ">="

    @property
    def names(self) -> set[str]:
        return self.lhs.names | self.rhs.names

    def violation(self, env: Mapping[str, float]) -> float:
        """``lhs − rhs`` (≤ 0: satisfied). NaN (quantity not measured) counts as violated (+inf)."""
        v = self.lhs(env) - self.rhs(env)
        return float("inf") if math.isnan(v) else v

    def bound(self) -> tuple[str, str, float] | None:
        """``(name, '<=' | '>=', value)`` when the constraint is a plain bound on one name."""
        ln, rn = self.lhs._tree.body, self.rhs._tree.body
        num = (ast.Constant, ast.UnaryOp)

        def const(n):
            try:
                return _eval(n, {}, "", "")
            except ConfigError:
                return None

        if isinstance(ln, ast.Name) and isinstance(rn, num) and const(rn) is not None:
            return ln.id, "<=", const(rn)
        if isinstance(rn, ast.Name) and isinstance(ln, num) and const(ln) is not None:
            return rn.id, ">=", const(ln)
        return None


def parse_constraints(text: str, what: str = "constraint") -> list[Constraint]:
    """One or more :class:`Constraint` from ``a <= b``, ``a >= b`` or a chain ``a <= b <= c``."""
    tree = _parse(text, what)
    _check(tree, text, what, allow_compare=True)
    body = tree.body
    if not isinstance(body, ast.Compare):
        raise ConfigError(f"{what}: {text!r} is not a comparison; write e.g. 'z_height_mm <= 7.5'")
    for n in ast.walk(body):
        if isinstance(n, ast.Compare) and n is not body:
            raise ConfigError(f"{what}: {text!r} nests comparisons")
    terms = [body.left, *body.comparators]
    out = []
    for op, a, b in zip(body.ops, terms[:-1], terms[1:]):
        if type(op) not in _CMP:
            raise ConfigError(f"{what}: {text!r} uses {type(op).__name__}; constraints use <= or >= (< and > mean the same)")
        fa = Formula(ast.unparse(a), what)
        fb = Formula(ast.unparse(b), what)
        if _CMP[type(op)] == "<=":
            out.append(Constraint(text, fa, fb, "<="))
        else:
            out.append(Constraint(text, fb, fa, ">="))
    return out


__all__ = ["Constraint", "Formula", "names_in", "parse_constraints", "unknown_name_error"]
