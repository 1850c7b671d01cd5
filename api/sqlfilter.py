"""The `bbox` and CQL2 `filter` of an /items request as an SQL condition, for a collection the database answers
(`api.sqlview`): what `api.cql` evaluates over a frame in memory, with the same meaning and the same errors.

The condition is text with ``%s`` placeholders and a list of values (never a value spliced into the text);
column names come from the collection's queryables only. SQL's three-valued logic is CQL2's, so AND, OR and NOT
need no rewriting. Text compared by order (``<``, BETWEEN) and sorted uses the "C" collation: code-point order,
as Python compares the strings of a frame. Spatial predicates are PostGIS's (GEOS, as shapely), the literal
geometry read in `filter-crs` and moved to the storage CRS first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import shapely
from pygeofilter import ast

from api.cql import _COMPARE, _SPATIAL, Column, Operand, _check_kinds, dispatch, spatial_operands
from api.crs import STORAGE, OfferedCRS
from api.queryables import GEOMETRY, Property
from geo.errors import InputRejected
from geo.pgcodec import quote

Where = tuple[str, list[Any]]

_OPS: dict[type, str] = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}
_FUNCS: dict[type, str] = {
    ast.GeometryIntersects: "ST_Intersects",
    ast.GeometryDisjoint: "ST_Disjoint",
    ast.GeometryContains: "ST_Contains",
    ast.GeometryWithin: "ST_Within",
    ast.GeometryTouches: "ST_Touches",
    ast.GeometryCrosses: "ST_Crosses",
    ast.GeometryOverlaps: "ST_Overlaps",
    ast.GeometryEquals: "ST_Equals",
}
assert set(_OPS) == set(_COMPARE) and set(_FUNCS) == set(_SPATIAL)  # the same predicates as in memory
_NONE = np.zeros(0)


def bbox_sql(bbox: tuple[float, float, float, float], geometry: str = "geometry") -> Where:
    """Features whose bounds meet the box (bounds inclusive, as `api.ogc.select`); across the antimeridian
    when west > east."""
    x0, y0, x1, y1 = bbox
    g = quote(geometry)
    if x0 <= x1:
        return f"{g} && ST_MakeEnvelope(%s, %s, %s, %s, 4326)", [x0, y0, x1, y1]
    return (
        f"({g} && ST_MakeEnvelope(%s, %s, 180, %s, 4326) OR {g} && ST_MakeEnvelope(-180, %s, %s, %s, 4326))",
        [x0, y0, y1, y0, x1, y1],
    )


class Translator:
    """One parsed filter as an SQL condition over one collection's table."""

    def __init__(self, cid: str, props: dict[str, Property], filter_crs: OfferedCRS = STORAGE):
        self.cid = cid
        self.props = props
        self.filter_crs = filter_crs
        self.params: list[Any] = []

    def where(self, node: ast.Node) -> Where:
        return self.predicate(node), self.params

    def _value(self, value: Any) -> str:
        self.params.append(value)
        return "%s"

    def operand(self, node: Any) -> Operand:
        if isinstance(node, ast.Attribute):
            p = self.props.get(node.name)
            if p is None:
                raise InputRejected(
                    f"filter: {node.name!r} is not a queryable of {self.cid}; see /collections/{self.cid}/queryables"
                )
            kind = "number" if p.kind in ("integer", "number") else p.kind
            return Column(node.name, kind, _NONE, _NONE)
        if isinstance(node, bool | int | float | str):
            return node
        raise InputRejected(f"filter: {type(node).__name__} is not supported as a value (use properties and literals)")

    def sql(self, operand: Operand, *, ordered: bool = False) -> str:
        """An operand as SQL: a column (text in code-point order when `ordered`) or a placeholder."""
        if isinstance(operand, Column):
            text = quote(operand.name)
            return f'{text} COLLATE "C"' if ordered and operand.kind == "string" else text
        return self._value(float(operand) if isinstance(operand, int) and not isinstance(operand, bool) else operand)

    def predicate(self, node: Any) -> str:
        return dispatch(self, node)

    def combine(self, node: ast.Combination) -> str:
        lhs, rhs = self.predicate(node.lhs), self.predicate(node.rhs)
        return f"({lhs} {'AND' if isinstance(node, ast.And) else 'OR'} {rhs})"

    def negate(self, node: ast.Not) -> str:
        return f"(NOT {self.predicate(node.sub_node)})"

    def compare(self, node: ast.Comparison) -> str:
        lhs, rhs = self.operand(node.lhs), self.operand(node.rhs)
        _check_kinds(node.op.value, lhs, rhs)
        ordered = not isinstance(node, ast.Equal | ast.NotEqual)
        return f"({self.sql(lhs, ordered=ordered)} {_OPS[type(node)]} {self.sql(rhs, ordered=ordered)})"

    def between(self, node: ast.Between) -> str:
        lhs, low, high = self.operand(node.lhs), self.operand(node.low), self.operand(node.high)
        _check_kinds("BETWEEN", lhs, low, high)
        a = self.sql(lhs, ordered=True)
        text = f"({a} >= {self.sql(low, ordered=True)} AND {a} <= {self.sql(high, ordered=True)})"
        return f"(NOT {text})" if node.not_ else text

    def in_(self, node: ast.In) -> str:
        lhs = self.operand(node.lhs)
        items = [self.operand(s) for s in node.sub_nodes]
        if any(isinstance(i, Column) for i in items):
            raise InputRejected("filter: IN takes a list of literals")
        if not (isinstance(lhs, Column) and lhs.kind == "string" and all(isinstance(i, str) for i in items)):
            _check_kinds("IN", lhs, *items)
        listed = [i if isinstance(i, str | bool) else float(i) for i in items if not isinstance(i, Column)]
        text = f"({self.sql(lhs)} = ANY({self._value(listed)}))"
        return f"(NOT {text})" if node.not_ else text

    def like(self, node: ast.Like) -> str:
        lhs = self.operand(node.lhs)
        if not isinstance(lhs, Column) or lhs.kind != "string" or not isinstance(node.pattern, str):
            raise InputRejected("filter: LIKE compares a text property with a text pattern")
        # CQL2's wildcards and escape are SQL's: % any run, _ one character, \ escapes the next
        text = f"({self.sql(lhs)} {'ILIKE' if node.nocase else 'LIKE'} {self._value(node.pattern)})"
        return f"(NOT {text})" if node.not_ else text

    def is_null(self, node: ast.IsNull) -> str:
        lhs = self.operand(node.lhs)
        if not isinstance(lhs, Column):
            raise InputRejected("filter: IS NULL takes a property")
        return f"({self.sql(lhs)} IS {'NOT ' if node.not_ else ''}NULL)"

    def spatial(self, node: ast.SpatialComparisonPredicate) -> str:
        predicate, geom = spatial_operands(node, self.filter_crs)
        literal = self._value(shapely.to_wkb(geom))
        return f"{_FUNCS[predicate]}({quote(GEOMETRY)}, ST_GeomFromWKB({literal}, 4326))"

    def include(self, node: ast.Include) -> str:
        return "FALSE" if node.not_ else "TRUE"

    HANDLERS: dict[type, Callable[[Translator, Any], str]] = {
        ast.And: combine,
        ast.Or: combine,
        ast.Not: negate,
        ast.Between: between,
        ast.In: in_,
        ast.Like: like,
        ast.IsNull: is_null,
        ast.Include: include,
    }


def filter_sql(cid: str, props: dict[str, Property], node: ast.Node, filter_crs: OfferedCRS) -> Where:
    """The filter as an SQL condition and its values."""
    return Translator(cid, props, filter_crs).where(node)


def order_sql(sortby: tuple[tuple[str, bool], ...], props: dict[str, Property], tiebreak: str) -> str:
    """`sortby` as an ORDER BY list: missing values last either way (as pandas' ``na_position="last"``), text in
    code-point order, ties in the stored order (`tiebreak`), so pages are stable."""
    parts = []
    for name, ascending in sortby:
        col = quote(name) + (' COLLATE "C"' if props[name].kind == "string" else "")
        parts.append(f"{col} {'ASC' if ascending else 'DESC'} NULLS LAST")
    return ", ".join([*parts, tiebreak])
