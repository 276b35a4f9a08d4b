"""Draw a Step Functions definition (Amazon States Language) as an SVG picture.

    python tools/render_state_machine.py                 # the pipeline -> docs/images/state-machine.svg
    python tools/render_state_machine.py DEF.json -o OUT.svg
    python tools/render_state_machine.py --check         # exit 1 if the committed picture is stale

Pure Python (no Graphviz): one box per state with its type, its Retry rules written on the
box, arrows for Next, Default, Choices (labelled with their condition) and Catch (dashed),
and a Map's or Parallel's inner states drawn inside its box. The layout is a plain layered
one (a state sits one row below the furthest state that leads to it; edges that skip rows
bend around the rows between), so the same definition always gives the same bytes, and
``tests/docs/test_state_machine_svg.py`` fails when the committed picture is stale.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFINITION = ROOT / "statemachines" / "pipeline.asl.json"
OUTPUT = ROOT / "docs" / "images" / "state-machine.svg"

FONT = 13  # px; text is monospace so its width can be computed without a font engine
SMALL = 11
CHAR = 0.62  # advance of one monospace character, per px of font size (a little generous)
PAD = 10  # inside a box
GAP_X = 36  # between boxes in a row
GAP_Y = 48  # between rows
DUMMY_W = 16  # width an edge reserves when it passes through a row
MARGIN = 16  # around the picture and inside a Map box
START, END = "__start__", "__end__"

# fill, stroke per state type
COLOURS = {
    "Task": ("#e3f2fd", "#1e88e5"),
    "Map": ("#f6effa", "#8e24aa"),
    "Parallel": ("#f6effa", "#8e24aa"),
    "Choice": ("#fff8e1", "#f9a825"),
    "Pass": ("#eceff1", "#78909c"),
    "Wait": ("#eceff1", "#78909c"),
    "Fail": ("#ffebee", "#e53935"),
    "Succeed": ("#e8f5e9", "#43a047"),
    "terminal": ("#ffffff", "#455a64"),
}

OPERATORS = {
    "NumericEquals": "==",
    "NumericGreaterThan": ">",
    "NumericGreaterThanEquals": ">=",
    "NumericLessThan": "<",
    "NumericLessThanEquals": "<=",
    "StringEquals": "==",
    "BooleanEquals": "==",
    "TimestampEquals": "==",
}


@dataclass
class Text:
    """One line of text in a box."""

    text: str
    size: int = SMALL
    style: str = ""  # "bold", "italic" or ""

    @property
    def width(self) -> int:
        return round(len(self.text) * self.size * CHAR)


@dataclass
class Node:
    """A state (or the start / end marker, or an edge's bend point) and its place in its scope."""

    name: str
    kind: str
    lines: list[Text] = field(default_factory=list)
    inner: list[Layout] = field(default_factory=list)  # Map: one; Parallel: one per branch
    w: int = 0
    h: int = 0
    x: int = 0  # top-left, relative to the scope's layout
    y: int = 0

    @property
    def dummy(self) -> bool:
        return self.kind == "dummy"


@dataclass
class Edge:
    """An arrow between two nodes of one scope."""

    src: str
    dst: str
    label: str = ""
    kind: str = "next"  # next, choice, default, catch
    points: list[tuple[int, int]] = field(default_factory=list)


@dataclass
class Layout:
    """One scope (the machine, a Map's processor or a Parallel branch) placed in its own box."""

    nodes: dict[str, Node]
    edges: list[Edge]
    w: int = 0
    h: int = 0


# ---- what each state says --------------------------------------------------------------------


def _errors(names: Sequence[str]) -> str:
    """Error names, with several sharing a dotted prefix (Lambda.*) counted instead of listed."""
    groups: dict[str, list[str]] = {}
    for name in names:
        prefix = name.split(".", 1)[0] + ".*" if "." in name and name != "States.ALL" else name
        groups.setdefault(prefix, []).append(name)
    parts = []
    for prefix, members in groups.items():
        parts.append(f"{len(members)} {prefix} errors" if len(members) > 1 else members[0])
    return ", ".join(parts)


def retry_lines(state: Mapping[str, Any]) -> list[Text]:
    """One line per Retry rule: attempts, first interval and the errors it matches."""
    lines = []
    for rule in state.get("Retry", []):
        attempts = rule.get("MaxAttempts", 3)
        errors = _errors(rule.get("ErrorEquals", []))
        if attempts == 0:
            lines.append(Text(f"no retry: {errors}"))
            continue
        interval = rule.get("IntervalSeconds", 1)
        backoff = rule.get("BackoffRate", 2.0)
        cap = f", max {rule['MaxDelaySeconds']}s" if "MaxDelaySeconds" in rule else ""
        lines.append(Text(f"retry {attempts}x ({interval}s x{backoff:g}{cap}): {errors}"))
    return lines


def type_line(state: Mapping[str, Any]) -> Text:
    """The state's type and what matters about it at a glance."""
    kind = state["Type"]
    extra = []
    if kind == "Map":
        if "MaxConcurrency" in state:
            extra.append(f"MaxConcurrency {state['MaxConcurrency']}")
        if "ItemsPath" in state:
            extra.append(f"items {state['ItemsPath']}")
    elif kind == "Task" and "TimeoutSeconds" in state:
        extra.append(f"timeout {state['TimeoutSeconds']}s")
    elif kind == "Fail" and "Error" in state:
        extra.append(f"error {state['Error']}")
    return Text(" · ".join([kind, *extra]), SMALL, "italic")


def condition(rule: Mapping[str, Any]) -> str:
    """A Choice rule as a short expression."""
    for combinator in ("And", "Or"):
        if combinator in rule:
            return f" {combinator.lower()} ".join(f"({condition(r)})" for r in rule[combinator])
    if "Not" in rule:
        return f"not ({condition(rule['Not'])})"
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"])
    variable = rule.get("Variable", "")
    for key, value in rule.items():
        if key in ("Variable", "Next"):
            continue
        op = OPERATORS.get(key)
        shown = json.dumps(value) if isinstance(value, str) else value
        return f"{variable} {op} {shown}" if op else f"{variable} {key} {shown}"
    return variable


# ---- the graph of one scope -------------------------------------------------------------------


def _edges(states: Mapping[str, Any], start: str) -> list[Edge]:
    edges = [Edge(START, start)]
    for name, state in states.items():
        for i, rule in enumerate(state.get("Choices", [])):
            edges.append(Edge(name, rule["Next"], condition(rule) or f"rule {i + 1}", "choice"))
        if "Default" in state:
            edges.append(Edge(name, state["Default"], "Default", "default"))
        if "Next" in state:
            edges.append(Edge(name, state["Next"]))
        for catcher in state.get("Catch", []):
            edges.append(Edge(name, catcher["Next"], "Catch " + _errors(catcher["ErrorEquals"]), "catch"))
        if state.get("End"):
            edges.append(Edge(name, END))
    return edges


def _node(name: str, state: Mapping[str, Any]) -> Node:
    node = Node(name, state["Type"], [Text(name, FONT, "bold"), type_line(state), *retry_lines(state)])
    if state["Type"] == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator")
        node.inner = [layout(processor["States"], processor["StartAt"])]
    elif state["Type"] == "Parallel":
        node.inner = [layout(b["States"], b["StartAt"]) for b in state.get("Branches", [])]
    text_w = max(t.width for t in node.lines) + 2 * PAD
    text_h = sum(t.size + 6 for t in node.lines) + 2 * PAD - 6
    if node.inner:
        inner_w = sum(child.w for child in node.inner) + GAP_X * (len(node.inner) - 1)
        node.w = max(text_w, inner_w + 2 * MARGIN)
        node.h = text_h + max(child.h for child in node.inner) + MARGIN
    else:
        node.w, node.h = max(text_w, 120), text_h
    return node


def _ranks(names: Sequence[str], edges: Sequence[Edge]) -> tuple[dict[str, int], list[str], set[int]]:
    """Longest-path layers over the edges that do not close a loop; the loop edges' indexes."""
    out: dict[str, list[int]] = {n: [] for n in names}
    for i, e in enumerate(edges):
        out[e.src].append(i)
    order: list[str] = []  # reverse post-order: a topological order of the forward edges
    back: set[int] = set()
    state: dict[str, int] = {}

    def visit(n: str) -> None:
        state[n] = 1
        for i in out[n]:
            d = edges[i].dst
            if state.get(d) == 1:
                back.add(i)
            elif d not in state:
                visit(d)
        state[n] = 2
        order.append(n)

    for n in names:  # START first, then unreachable states in definition order
        if n not in state:
            visit(n)
    order.reverse()
    rank = dict.fromkeys(names, 0)
    for n in order:
        for i in out[n]:
            if i not in back:
                rank[edges[i].dst] = max(rank[edges[i].dst], rank[n] + 1)
    if END in rank:  # the end marker sits below everything
        rank[END] = max(r for n, r in rank.items() if n != END) + 1
    return rank, order, back


def layout(states: Mapping[str, Any], start: str) -> Layout:
    """Place one scope's states in rows, top to bottom, and route its edges."""
    edges = [e for e in _edges(states, start) if e.dst in states or e.dst == END]
    names = [START, *states, *([END] if any(e.dst == END for e in edges) else [])]
    nodes = {START: Node(START, "terminal", [Text("Start", SMALL, "bold")])}
    for name, state in states.items():
        nodes[name] = _node(name, state)
    if END in names:
        nodes[END] = Node(END, "terminal", [Text("End", SMALL, "bold")])
    for n in (START, END):
        if n in nodes:
            nodes[n].w, nodes[n].h = 64, 26
    rank, discovered, back = _ranks(names, edges)

    # Edges that skip rows get a bend point in every row between, so they go around boxes.
    chains: dict[int, list[str]] = {}
    for i, e in enumerate(edges):
        if i in back:
            continue
        chain = [e.src]
        for r in range(rank[e.src] + 1, rank[e.dst]):
            d = f"__bend{i}_{r}"
            nodes[d] = Node(d, "dummy", w=DUMMY_W, h=0)
            rank[d] = r
            chain.append(d)
        chains[i] = [*chain, e.dst]

    rows: list[list[str]] = [[] for _ in range(max(rank.values()) + 1)]
    seen = [*discovered, *(n for n in nodes if n not in discovered)]
    for n in seen:
        rows[rank[n]].append(n)
    # One downward pass of the barycentre heuristic: order each row by where its parents are.
    parents: dict[str, list[str]] = {n: [] for n in nodes}
    for chain in chains.values():
        for a, b in itertools.pairwise(chain):
            parents[b].append(a)
    for r in range(1, len(rows)):
        where = {n: i for i, n in enumerate(rows[r - 1])}

        def centre(n: str, where: dict[str, int] = where) -> float:
            ps = [where[p] for p in parents[n] if p in where]
            return sum(ps) / len(ps) if ps else float("inf")

        rows[r] = sorted(rows[r], key=centre)

    widths = [sum(nodes[n].w for n in row) + GAP_X * (len(row) - 1) for row in rows]
    width = max(widths) + 2 * MARGIN
    y = MARGIN
    for row, row_w in zip(rows, widths, strict=True):
        row_h = max(nodes[n].h for n in row)
        x = (width - row_w) // 2
        for n in row:
            node = nodes[n]
            node.x, node.y = x, y + (row_h - node.h) // 2
            x += node.w + GAP_X
        y += row_h + GAP_Y
    height = y - GAP_Y + MARGIN

    result = Layout(nodes, [], width, height)
    _route(result, edges, chains, back)
    return result


def _route(lay: Layout, edges: Sequence[Edge], chains: Mapping[int, list[str]], back: set[int]) -> None:
    """Polyline points for every edge; ports spread along a box's bottom and top edges."""
    nodes = lay.nodes
    leaving: dict[str, list[int]] = {}
    arriving: dict[str, list[int]] = {}
    for i, chain in chains.items():
        leaving.setdefault(chain[0], []).append(i)
        arriving.setdefault(chain[-1], []).append(i)

    def port(n: str, ids: list[int], i: int, towards: dict[int, int]) -> int:
        ordered = sorted(ids, key=lambda j: (towards[j], j))
        node = nodes[n]
        return node.x + node.w * (ordered.index(i) + 1) // (len(ids) + 1)

    first_hop = {i: nodes[c[1]].x + nodes[c[1]].w // 2 for i, c in chains.items()}
    last_hop = {i: nodes[c[-2]].x + nodes[c[-2]].w // 2 for i, c in chains.items()}
    right = lay.w
    for i, e in enumerate(edges):
        if i in back:  # a loop: out of the source's right side, up the margin, into the target's right
            s, d = nodes[e.src], nodes[e.dst]
            right += 12
            e.points = [
                (s.x + s.w, s.y + s.h // 2),
                (right, s.y + s.h // 2),
                (right, d.y + d.h // 2),
                (d.x + d.w, d.y + d.h // 2),
            ]
        else:
            chain = chains[i]
            s, d = nodes[chain[0]], nodes[chain[-1]]
            points = [(port(chain[0], leaving[chain[0]], i, first_hop), s.y + s.h)]
            points += [(nodes[b].x + nodes[b].w // 2, nodes[b].y) for b in chain[1:-1]]
            points.append((port(chain[-1], arriving[chain[-1]], i, last_hop), d.y))
            e.points = points
        lay.edges.append(e)
    lay.w = right + (MARGIN if right > lay.w else 0)


# ---- SVG ----------------------------------------------------------------------------------------


def _text(x: int, y: int, t: Text, anchor: str = "middle") -> str:
    style = {"bold": ' font-weight="bold"', "italic": ' font-style="italic" fill="#455a64"'}.get(t.style, "")
    return f'<text x="{x}" y="{y}" font-size="{t.size}" text-anchor="{anchor}"{style}>{escape(t.text)}</text>'


def _draw(lay: Layout, ox: int, oy: int, out: list[str]) -> None:
    for node in lay.nodes.values():
        if node.dummy:
            continue
        x, y = ox + node.x, oy + node.y
        fill, stroke = COLOURS.get(node.kind, COLOURS["Task"])
        radius = node.h // 2 if node.kind == "terminal" else 6
        out.append(
            f'<rect x="{x}" y="{y}" width="{node.w}" height="{node.h}" rx="{radius}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"/>'
        )
        if node.kind == "terminal":
            out.append(_text(x + node.w // 2, y + node.h // 2 + 4, node.lines[0]))
            continue
        ty = y + PAD
        for i, t in enumerate(node.lines):
            ty += t.size
            if node.inner or i >= 2:  # Map headers and Retry lines read from the left
                out.append(_text(x + PAD, ty, t, "start"))
            else:
                out.append(_text(x + node.w // 2, ty, t))
            ty += 6
        ix = x + (node.w - sum(c.w for c in node.inner) - GAP_X * (len(node.inner) - 1)) // 2
        for child in node.inner:
            out.append(
                f'<rect x="{ix}" y="{ty}" width="{child.w}" height="{child.h}" rx="6" '
                'fill="#ffffff" stroke="#ce93d8" stroke-dasharray="4 3"/>'
            )
            _draw(child, ix, ty, out)
            ix += child.w + GAP_X
    for e in lay.edges:
        points = " ".join(f"{ox + px},{oy + py}" for px, py in e.points)
        dash = ' stroke-dasharray="6 4"' if e.kind == "catch" else ""
        colour = "#e53935" if e.kind == "catch" else "#37474f"
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.4"{dash} '
            f'marker-end="url(#arrow-{e.kind if e.kind == "catch" else "next"})"/>'
        )
        if e.label:
            (x1, y1), (x2, y2) = e.points[0], e.points[1]
            lx, ly = ox + (x1 + x2) // 2, oy + (y1 + y2) // 2
            label = Text(e.label, SMALL)
            out.append(
                f'<rect x="{lx - label.width // 2 - 3}" y="{ly - SMALL + 1}" width="{label.width + 6}" '
                f'height="{SMALL + 5}" rx="3" fill="#ffffff" fill-opacity="0.92"/>'
            )
            out.append(_text(lx, ly + 1, label).replace("<text ", f'<text fill="{colour}" ', 1))


def render(definition: Mapping[str, Any]) -> str:
    """The whole machine as an SVG document (deterministic: same definition, same bytes)."""
    lay = layout(definition["States"], definition["StartAt"])
    out: list[str] = []
    _draw(lay, 0, 0, out)
    markers = "".join(
        f'<marker id="arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        f'markerHeight="8" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
        for kind, colour in (("next", "#37474f"), ("catch", "#e53935"))
    )
    title = escape(definition.get("Comment", "state machine"))
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.w}" height="{lay.h}" '
            f'viewBox="0 0 {lay.w} {lay.h}" font-family="ui-monospace, SFMono-Regular, Menlo, Consolas, '
            f'monospace" role="img">',
            f"<title>{title}</title>",
            "<!-- Generated by tools/render_state_machine.py from statemachines/pipeline.asl.json; "
            "do not edit: run make state-machine-svg -->",
            f"<defs>{markers}</defs>",
            f'<rect width="{lay.w}" height="{lay.h}" fill="#ffffff"/>',
            *out,
            "</svg>",
            "",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Write (or with --check, compare) the picture."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("definition", nargs="?", type=Path, default=DEFINITION)
    parser.add_argument("-o", "--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="exit 1 if OUTPUT differs from a fresh render")
    args = parser.parse_args(argv)
    svg = render(json.loads(args.definition.read_text()))
    if args.check:
        current = args.output.read_text() if args.output.exists() else ""
        if current != svg:
            print(f"{args.output} is stale: run make state-machine-svg", file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(svg)
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
