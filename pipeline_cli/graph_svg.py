"""Draw a Step Functions definition as an SVG, laid out by grandalf (pure Python, Sugiyama layers).

The same graph as the Mermaid diagram (graph.py): tasks as boxes, choices as diamonds, ends as
stadiums, catches dashed; a Parallel's branches hang below it and join its Next. With outcomes,
every state is filled the way the Step Functions console colours it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from xml.sax.saxutils import escape, quoteattr

from grandalf.graphs import Edge, Graph, Vertex
from grandalf.layouts import SugiyamaLayout

from pipeline_cli.graph import (
    NOT_RUN,
    OUTCOME_COLOURS,
    START_NODE,
    Colours,
    branch_prefix,
    edges,
    node_id,
    to_mermaid,
)

FONT_FAMILY: Final = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT_PX: Final = 13
# Label width without font metrics: DejaVu Sans averages about 0.62 em per character.
_CHAR_PX: Final = FONT_PX * 0.62
_PAD_X: Final = 24
_BOX_HEIGHT: Final = 34
_DIAMOND_HEIGHT: Final = 48
_START_SIDE: Final = 40
_MARGIN: Final = 24
_COMPONENT_GAP: Final = 60
_LEGEND_ROW: Final = 20
_LEGEND_PX: Final = 12
NEUTRAL: Final = Colours(fill="#e7f5ff", stroke="#1c7ed6", text="#0b3d66")
_EDGE_COLOUR: Final = "#495057"
GRAPH_FORMATS: Final = ("mermaid", "svg", "png")


@dataclass
class _View:
    """What grandalf reads (w, h) and writes (xy) for a vertex, and (setpath) for an edge."""

    w: float = 0.0
    h: float = 0.0
    xy: tuple[float, float] = (0.0, 0.0)
    points: list[tuple[float, float]] = field(default_factory=list)

    def setpath(self, points: list[tuple[float, float]]) -> None:
        self.points = [(float(x), float(y)) for x, y in points]


@dataclass(frozen=True)
class _Node:
    node_id: str
    label: str
    kind: str  # the state's Type, or "start"


@dataclass(frozen=True)
class _Link:
    source: str
    target: str
    label: str
    dashed: bool


def _width(node: _Node) -> float:
    if node.kind == "start":
        return _START_SIDE
    text = len(node.label) * _CHAR_PX + 2 * _PAD_X
    return text * 1.35 if node.kind == "Choice" else text


def _height(node: _Node) -> float:
    return {"start": _START_SIDE, "Choice": _DIAMOND_HEIGHT}.get(node.kind, _BOX_HEIGHT)


def _collect(
    definition: dict[str, Any], prefix: str, catches: bool
) -> tuple[list[_Node], list[_Link], list[str]]:
    """Nodes and links of one level (and its branches); the ids of the level's terminal states."""
    nodes: list[_Node] = []
    links: list[_Link] = []
    ends: list[str] = []
    for name, state in definition["States"].items():
        node = node_id(name, prefix)
        nodes.append(_Node(node, name, state["Type"]))
        if state.get("End") or state["Type"] in ("Succeed", "Fail"):
            ends.append(node)
        for index, branch in enumerate(state.get("Branches", [])):
            inner = branch_prefix(node, index)
            inner_nodes, inner_links, inner_ends = _collect(branch, inner, catches)
            nodes += inner_nodes
            links += [*inner_links, _Link(node, node_id(branch["StartAt"], inner), "", False)]
            if "Next" in state:  # the branches join where the Parallel goes next
                links += [_Link(end, node_id(state["Next"], prefix), "", False) for end in inner_ends]
        for target, label, style in edges(state):
            if style == "catch" and not catches:
                continue
            if style == "next" and state.get("Branches"):
                continue  # drawn through its branches
            links.append(_Link(node, node_id(target, prefix), label, style == "catch"))
    return nodes, links, ends


@dataclass(frozen=True)
class Placed:
    """One drawn state: its centre and size in the SVG's coordinates."""

    node_id: str
    label: str
    kind: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Layout:
    nodes: dict[str, Placed]
    paths: list[tuple[_Link, list[tuple[float, float]]]]
    width: float
    height: float


def layout(definition: dict[str, Any], *, catches: bool = False) -> Layout:
    """Every state placed in layers from StartAt down; unconnected parts (error handlers) side by side."""
    nodes, links, _ = _collect(definition, "", catches)
    nodes.insert(0, _Node(START_NODE, "start", "start"))
    links.insert(0, _Link(START_NODE, node_id(definition["StartAt"], ""), "", False))
    vertices = {node.node_id: Vertex(node) for node in nodes}
    for vertex in vertices.values():
        vertex.view = _View(w=_width(vertex.data), h=_height(vertex.data))
    graph_edges = []
    for link in links:
        edge = Edge(vertices[link.source], vertices[link.target], data=link)
        edge.view = _View()
        graph_edges.append(edge)
    graph = Graph(list(vertices.values()), graph_edges)
    placed: dict[str, Placed] = {}
    paths: list[tuple[_Link, list[tuple[float, float]]]] = []
    offset_x, height = float(_MARGIN), 0.0
    for component in graph.C:
        sugiyama = SugiyamaLayout(component)
        sugiyama.xspace, sugiyama.yspace = 30, 36
        roots = [v for v in component.sV if v.data.node_id == START_NODE] or None
        sugiyama.init_all(roots=roots)
        sugiyama.draw()
        left = min(v.view.xy[0] - v.view.w / 2 for v in component.sV)
        top = min(v.view.xy[1] - v.view.h / 2 for v in component.sV)
        dx, dy = offset_x - left, _MARGIN + _legend_height() - top
        for vertex in component.sV:
            x, y = vertex.view.xy
            data = vertex.data
            placed[data.node_id] = Placed(
                data.node_id, data.label, data.kind, x + dx, y + dy, vertex.view.w, vertex.view.h
            )
        for edge in component.sE:
            points = [(x + dx, y + dy) for x, y in edge.view.points]
            paths.append((edge.data, _clipped(points, placed[edge.data.source], placed[edge.data.target])))
        right = max(p.x + p.width / 2 for p in placed.values())
        height = max(height, max(p.y + p.height / 2 for p in placed.values()))
        offset_x = right + _COMPONENT_GAP
    return Layout(placed, paths, offset_x - _COMPONENT_GAP + _MARGIN, height + _MARGIN)


def _legend_height() -> float:
    return _LEGEND_ROW + 8


def _boundary(node: Placed, toward: tuple[float, float]) -> tuple[float, float]:
    """Where the line from the node's centre toward a point leaves its shape."""
    dx, dy = toward[0] - node.x, toward[1] - node.y
    if dx == 0 and dy == 0:
        return node.x, node.y
    half_w, half_h = node.width / 2, node.height / 2
    if node.kind == "Choice":
        scale = 1 / (abs(dx) / half_w + abs(dy) / half_h)
    elif node.kind == "start":
        scale = half_w / math.hypot(dx, dy)
    else:
        scale = min(half_w / abs(dx) if dx else math.inf, half_h / abs(dy) if dy else math.inf)
    return node.x + dx * scale, node.y + dy * scale


def _clipped(points: list[tuple[float, float]], source: Placed, target: Placed) -> list[tuple[float, float]]:
    if len(points) < 2:
        return points
    first = _boundary(source, points[1])
    last = _boundary(target, points[-2])
    return [first, *points[1:-1], last]


# --- SVG ------------------------------------------------------------------------------------------


def _shape(node: Placed, colours: Colours) -> str:
    paint = f'fill="{colours.fill}" stroke="{colours.stroke}" stroke-width="{colours.stroke_px:g}"'
    left, top = node.x - node.width / 2, node.y - node.height / 2
    if node.kind == "Choice":
        points = (
            f"{node.x:.1f},{top:.1f} {left + node.width:.1f},{node.y:.1f} "
            f"{node.x:.1f},{top + node.height:.1f} {left:.1f},{node.y:.1f}"
        )
        return f'<polygon points="{points}" {paint}/>'
    if node.kind == "start":
        return f'<circle cx="{node.x:.1f}" cy="{node.y:.1f}" r="{node.width / 2:.1f}" {paint}/>'
    radius = node.height / 2 if node.kind in ("Succeed", "Fail") else 5
    box = f'x="{left:.1f}" y="{top:.1f}" width="{node.width:.1f}" height="{node.height:.1f}" rx="{radius}"'
    shape = f"<rect {box} {paint}/>"
    if node.kind == "Parallel":  # a second frame, as Mermaid draws [[subroutines]]
        inner = (
            f'x="{left + 4:.1f}" y="{top + 4:.1f}" width="{node.width - 8:.1f}" '
            f'height="{node.height - 8:.1f}" rx="3"'
        )
        shape += f'<rect {inner} fill="none" stroke="{colours.stroke}" stroke-width="1"/>'
    return shape


def _text(x: float, y: float, text: str, colour: str, size: int = FONT_PX, anchor: str = "middle") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" fill="{colour}" font-size="{size}" text-anchor="{anchor}" '
        f'dominant-baseline="central">{escape(text)}</text>'
    )


def _path(link: _Link, points: list[tuple[float, float]]) -> Iterator[str]:
    d = "M " + " L ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dash = ' stroke-dasharray="5,4"' if link.dashed else ""
    yield (
        f'<path d="{d}" fill="none" stroke="{_EDGE_COLOUR}" stroke-width="1.2"{dash} '
        'marker-end="url(#arrow)"/>'
    )
    if link.label and len(points) >= 2:
        (x0, y0), (x1, y1) = points[0], points[1]
        yield _text((x0 + x1) / 2 + 4, (y0 + y1) / 2, link.label, _EDGE_COLOUR, size=11, anchor="start")


def _legend_entries() -> Iterator[tuple[float, str, Colours]]:
    """(x, outcome, colours) of each legend entry, left to right."""
    x = float(_MARGIN)
    for outcome, colours in OUTCOME_COLOURS.items():
        yield x, outcome, colours
        x += 20 + len(outcome) * _LEGEND_PX * 0.62 + 24


def _legend(outcomes: Mapping[str, str] | None) -> Iterator[str]:
    if outcomes is None:
        return
    for x, outcome, colours in _legend_entries():
        yield (
            f'<rect x="{x:.1f}" y="{_MARGIN - 6}" width="14" height="14" rx="3" '
            f'fill="{colours.fill}" stroke="{colours.stroke}" stroke-width="{colours.stroke_px:g}"/>'
        )
        yield _text(x + 20, _MARGIN + 1, outcome, "#212529", size=_LEGEND_PX, anchor="start")


def to_svg(
    definition: dict[str, Any],
    *,
    catches: bool = False,
    outcomes: Mapping[str, str] | None = None,
    title: str = "",
) -> str:
    """The whole workflow as one standalone SVG document.

    With `outcomes` (state name → succeeded/failed/caught/running) every state gets the console's
    colour and a legend; states not in it are grey (not run). Without, every state is neutral blue.
    """
    drawn = layout(definition, catches=catches)
    *_, (last_x, last, _) = _legend_entries()
    width = max(drawn.width, last_x + 20 + len(last) * _LEGEND_PX * 0.62 + _MARGIN)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{drawn.height:.0f}" '
        f'viewBox="0 0 {width:.0f} {drawn.height:.0f}" font-family={quoteattr(FONT_FAMILY)}>',
        f"<title>{escape(title)}</title>" if title else "",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" '
        f'fill="{_EDGE_COLOUR}"/></marker></defs>',
        f'<rect width="{width:.0f}" height="{drawn.height:.0f}" fill="#ffffff"/>',
        *_legend(outcomes),
    ]
    for link, points in drawn.paths:
        parts += _path(link, points)
    for node in drawn.nodes.values():
        if node.kind == "start" or outcomes is None:
            colours = NEUTRAL
        else:
            colours = OUTCOME_COLOURS[outcomes.get(node.label, NOT_RUN)]
        state = f" data-state={quoteattr(node.label)}" if node.kind != "start" else ""
        parts.append(f'<g class="state"{state}>')
        parts.append(_shape(node, colours))
        parts.append(
            _text(node.x, node.y, node.label, colours.text, size=11 if node.kind == "start" else FONT_PX)
        )
        parts.append("</g>")
    parts.append("</svg>")
    return "\n".join(part for part in parts if part) + "\n"


def svg_to_png(svg: str) -> bytes:
    """Rasterise with resvg (a Rust renderer in a wheel: no system libraries)."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff"))


def draw(
    definition: dict[str, Any],
    fmt: str,
    *,
    catches: bool,
    outcomes: Mapping[str, str] | None = None,
    title: str = "",
) -> str | bytes:
    """The diagram in one of GRAPH_FORMATS: Mermaid text, SVG text or PNG bytes."""
    if fmt == "mermaid":
        return to_mermaid(definition, catches=catches, outcomes=outcomes)
    svg = to_svg(definition, catches=catches, outcomes=outcomes, title=title)
    if fmt == "svg":
        return svg
    if fmt == "png":
        return svg_to_png(svg)
    raise ValueError(f"format must be one of {', '.join(GRAPH_FORMATS)}, got {fmt!r}")
