"""Draw a Step Functions definition as a Mermaid flowchart."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

_SHAPES = {"Choice": ("{", "}"), "Succeed": ("([", "])"), "Fail": ("([", "])"), "Parallel": ("[[", "]]")}
START_NODE: Final = "start"
NOT_RUN: Final = "not run"


@dataclass(frozen=True)
class Colours:
    fill: str
    stroke: str
    text: str
    stroke_px: float = 1.5

    def mermaid_style(self) -> str:
        width = f",stroke-width:{self.stroke_px:g}px" if self.stroke_px != Colours.stroke_px else ""
        return f"fill:{self.fill},stroke:{self.stroke}{width},color:{self.text}"


# An execution's states coloured as the Step Functions console does (history.py names the outcomes);
# the Mermaid and the SVG drawings both take them from here.
OUTCOME_COLOURS: Final = {
    "succeeded": Colours(fill="#d3f9d8", stroke="#2b8a3e", text="#1b4d2b"),
    "failed": Colours(fill="#ffe3e3", stroke="#c92a2a", text="#7d1a1a"),
    "caught": Colours(fill="#fff3bf", stroke="#e67700", text="#663c00"),
    "running": Colours(fill="#fff3bf", stroke="#e67700", text="#663c00", stroke_px=3),
    NOT_RUN: Colours(fill="#f1f3f5", stroke="#adb5bd", text="#868e96"),
}
OUTCOME_CLASSES: Final = {
    outcome: (outcome.replace(" ", ""), colours.mermaid_style())
    for outcome, colours in OUTCOME_COLOURS.items()
}


def node_id(name: str, prefix: str) -> str:
    """A state's node id: its name in letters, digits and '_' (branch states carry their prefix)."""
    return prefix + re.sub(r"[^A-Za-z0-9]", "_", name)


def branch_prefix(node: str, index: int) -> str:
    return f"{node}_b{index}_"


def edges(state: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(target, label, style) for every transition out of a state; style 'catch' is dashed."""
    if "Next" in state:
        yield state["Next"], "", "next"
    for choice in state.get("Choices", []):
        yield choice["Next"], "", "next"
    if "Default" in state:
        yield state["Default"], "otherwise", "next"
    for catch in state.get("Catch", []):
        yield catch["Next"], "error", "catch"


def _states(definition: dict[str, Any], prefix: str, catches: bool) -> Iterator[str]:
    for name, state in definition["States"].items():
        node = node_id(name, prefix)
        open_, close = _SHAPES.get(state["Type"], ("[", "]"))
        yield f'    {node}{open_}"{name}"{close}'
        for index, branch in enumerate(state.get("Branches", [])):
            inner = branch_prefix(node, index)
            yield f'    subgraph {inner}sub["{name} branch {index + 1}"]'
            yield from _states(branch, inner, catches)
            yield "    end"
            yield f"    {node} --> {node_id(branch['StartAt'], inner)}"
        for target, label, style in edges(state):
            if style == "catch" and not catches:
                continue
            arrow = "-.->" if style == "catch" else "-->"
            text = f"|{label}|" if label else ""
            yield f"    {node} {arrow}{text} {node_id(target, prefix)}"


def node_ids(definition: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """State name → its node id in `to_mermaid`'s diagram (branch states carry their branch prefix)."""
    found: dict[str, str] = {}
    for name, state in definition["States"].items():
        node = node_id(name, prefix)
        found[name] = node
        for index, branch in enumerate(state.get("Branches", [])):
            found.update(node_ids(branch, branch_prefix(node, index)))
    return found


def _outcome_classes(definition: dict[str, Any], outcomes: Mapping[str, str]) -> Iterator[str]:
    members: dict[str, list[str]] = {}
    for name, node in node_ids(definition).items():
        members.setdefault(outcomes.get(name, NOT_RUN), []).append(node)
    for outcome, (css_class, style) in OUTCOME_CLASSES.items():
        if outcome in members:
            yield f"    classDef {css_class} {style}"
            yield f"    class {','.join(members[outcome])} {css_class}"


def to_mermaid(
    definition: dict[str, Any], *, catches: bool = True, outcomes: Mapping[str, str] | None = None
) -> str:
    """A `flowchart TD` of the definition: tasks as boxes, choices as diamonds, catches dashed.

    With `outcomes` (state name → succeeded/failed/caught/running), every state gets its colour;
    states not in it are grey (not run).
    """
    lines = [
        "flowchart TD",
        f"    {START_NODE}(({START_NODE})) --> {node_id(definition['StartAt'], '')}",
        *_states(definition, "", catches),
    ]
    if outcomes is not None:
        lines += _outcome_classes(definition, outcomes)
    return "\n".join(lines) + "\n"


def readme_block(name: str, definition: dict[str, Any]) -> str:
    """The README's diagram of one workflow (catch edges left out: every task has one)."""
    diagram = to_mermaid(definition, catches=False)
    return f"<!-- graph:{name}:start -->\n```mermaid\n{diagram}```\n<!-- graph:{name}:end -->"


def replace_block(text: str, name: str, block: str) -> str:
    pattern = re.compile(rf"<!-- graph:{name}:start -->.*?<!-- graph:{name}:end -->", re.DOTALL)
    if not pattern.search(text):
        raise ValueError(f"no graph:{name} markers in the README")
    return pattern.sub(lambda _: block, text)


def update_readme(readme_path: str = "README.md") -> None:
    """Regenerate the README's workflow diagrams from a fresh synth."""
    import app as cdk_app
    from pipeline_cli.definitions import definition_by_workflow

    template = cdk_app.build_app().synth().get_stack_by_name(cdk_app.STACK_NAME).template
    with open(readme_path, encoding="utf-8") as handle:
        text = handle.read()
    for workflow in ("training", "evaluation"):
        text = replace_block(
            text, workflow, readme_block(workflow, definition_by_workflow(template, workflow))
        )
    with open(readme_path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    update_readme()
