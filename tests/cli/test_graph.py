"""The workflow diagrams: Mermaid with an execution's outcomes, and the SVG as a person sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from xml.etree import ElementTree

import numpy as np
import resvg_py

from pipeline_cli.graph import NOT_RUN, OUTCOME_COLOURS, Colours, node_ids, to_mermaid
from pipeline_cli.graph_svg import FONT_PX, NEUTRAL, to_svg

SVG_NS = "{http://www.w3.org/2000/svg}"

DEFINITION: dict[str, Any] = {
    "StartAt": "Plan",
    "States": {
        "Plan": {"Type": "Task", "Resource": "r", "Next": "Evaluate", "Catch": [{"Next": "Failed"}]},
        "Evaluate": {
            "Type": "Parallel",
            "Next": "Gate?",
            "Branches": [
                {"StartAt": "Score", "States": {"Score": {"Type": "Task", "Resource": "r", "End": True}}},
                {"StartAt": "Skip", "States": {"Skip": {"Type": "Pass", "End": True}}},
            ],
        },
        "Gate?": {"Type": "Choice", "Choices": [{"Next": "Done"}], "Default": "Failed"},
        "Done": {"Type": "Succeed"},
        "Failed": {"Type": "Fail"},
    },
}


def test_node_ids_follow_branches() -> None:
    assert node_ids(DEFINITION) == {
        "Plan": "Plan",
        "Evaluate": "Evaluate",
        "Score": "Evaluate_b0_Score",
        "Skip": "Evaluate_b1_Skip",
        "Gate?": "Gate_",
        "Done": "Done",
        "Failed": "Failed",
    }


def test_outcomes_become_classes_and_states_not_run_are_grey() -> None:
    outcomes = {"Plan": "caught", "Evaluate": "running", "Score": "running", "Failed": "failed"}

    diagram = to_mermaid(DEFINITION, catches=False, outcomes=outcomes)

    lines = diagram.splitlines()
    assert "    class Plan caught" in lines
    assert "    class Evaluate,Evaluate_b0_Score running" in lines
    assert "    class Failed failed" in lines
    assert "    class Evaluate_b1_Skip,Gate_,Done notrun" in lines
    assert not any(line.startswith("    class ") and line.endswith(" succeeded") for line in lines)
    assert diagram.startswith(
        to_mermaid(DEFINITION, catches=False).rstrip("\n")
    )  # the drawing itself unchanged


def test_catch_edges_are_dashed_when_asked_for() -> None:
    assert "    Plan -.->|error| Failed" in to_mermaid(DEFINITION, catches=True).splitlines()
    assert "-.->" not in to_mermaid(DEFINITION, catches=False)


# --- SVG, as a person sees it: rasterised by resvg (independent of the layout code), pixels read back ---


@dataclass(frozen=True)
class Box:
    """A drawn state's shape in the SVG, in pixels."""

    kind: str
    left: float
    top: float
    width: float
    height: float

    def background_point(self) -> tuple[int, int]:
        """Inside the shape, clear of its border and of the centred label."""
        inset = self.width * 0.15 if self.kind == "polygon" else 6
        return round(self.left + inset), round(self.top + self.height / 2)


def _boxes(svg: str) -> dict[str, Box]:
    """State name → the box of its shape, read from the SVG's elements."""
    found: dict[str, Box] = {}
    for group in ElementTree.fromstring(svg).iter(f"{SVG_NS}g"):
        if "data-state" not in group.attrib:
            continue  # the start circle
        shape = group[0]
        if shape.tag == f"{SVG_NS}polygon":
            xs, ys = zip(*(map(float, p.split(",")) for p in shape.attrib["points"].split()), strict=True)
            box = Box("polygon", min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))
        else:
            x, y, w, h = (float(shape.attrib[k]) for k in ("x", "y", "width", "height"))
            box = Box("rect", x, y, w, h)
        found[group.attrib["data-state"]] = box
    return found


def _pixels(svg: str) -> np.ndarray:
    import tensorflow as tf

    png = resvg_py.svg_to_bytes(svg_string=svg, background="#ffffff")
    return tf.io.decode_png(bytes(png), channels=3).numpy()


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _ink_columns(pixels: np.ndarray, box: Box, colours: Colours) -> int:
    """How many pixel columns of the box's middle band hold glyph ink: pixels at least halfway from
    the fill to the label's colour (anti-aliased strokes included)."""
    top, bottom = round(box.top + box.height / 4), round(box.top + 3 * box.height / 4)
    left, right = round(box.left + box.width * 0.1), round(box.left + box.width * 0.9)
    band = pixels[top:bottom, left:right].astype(int)
    fill, text = np.array(_rgb(colours.fill)), np.array(_rgb(colours.text))
    inked = np.abs(band - fill).sum(axis=2) >= np.abs(text - fill).sum() / 2
    return int(inked.any(axis=0).sum())


OUTCOMES = {"Plan": "succeeded", "Evaluate": "succeeded", "Score": "succeeded", "Gate?": "succeeded"}
OUTCOMES |= {"Skip": "caught", "Failed": "failed"}


def test_svg_shows_every_state_with_its_label_and_the_consoles_colour() -> None:
    svg = to_svg(DEFINITION, outcomes=OUTCOMES)
    pixels = _pixels(svg)
    boxes = _boxes(svg)

    assert set(boxes) == set(node_ids(DEFINITION))
    for state, box in boxes.items():
        colours = OUTCOME_COLOURS[OUTCOMES.get(state, NOT_RUN)]
        x, y = box.background_point()
        assert tuple(pixels[y, x]) == _rgb(colours.fill), state
        # The label is drawn: ink of the text colour across a good part of the label's estimated width.
        assert _ink_columns(pixels, box, colours) >= len(state) * FONT_PX * 0.3, state
    assert OUTCOME_COLOURS["succeeded"].fill != OUTCOME_COLOURS["failed"].fill


def test_svg_without_an_execution_is_one_neutral_colour_and_has_no_legend() -> None:
    svg = to_svg(DEFINITION)
    pixels = _pixels(svg)

    for state, box in _boxes(svg).items():
        x, y = box.background_point()
        assert tuple(pixels[y, x]) == _rgb(NEUTRAL.fill), state
    assert "not run" not in svg  # the legend names the outcomes; without outcomes there is none


def test_svg_draws_every_transition_once_and_catches_only_when_asked() -> None:
    without = to_svg(DEFINITION, catches=False)
    with_catches = to_svg(DEFINITION, catches=True)

    arrows = without.count('marker-end="url(#arrow)"')
    # start→Plan→Evaluate, Evaluate→Score|Skip, both branches join at Gate?, Gate?→Done|Failed
    assert arrows == 8
    assert with_catches.count('marker-end="url(#arrow)"') == arrows + 1
    assert "stroke-dasharray" in with_catches and "stroke-dasharray" not in without
