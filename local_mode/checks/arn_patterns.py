"""IAM's wildcard matching of actions, resources and ARNs (IAM User Guide, "IAM JSON policy elements:
Resource", "Action" and the ``ArnLike`` condition operator).

`glob_match` matches a pattern against a concrete name; `patterns_overlap` answers whether two
patterns have a name in common, which the static check needs where a resource name is computed
at run time and only its pattern is known.
"""

from __future__ import annotations

from functools import cache


def glob_match(pattern: str, text: str) -> bool:
    """IAM wildcard match: `*` any run of characters, `?` one character (``text`` is literal)."""
    return _overlap(pattern, text, literal_b=True)


def patterns_overlap(a: str, b: str) -> bool:
    """Whether some string matches both wildcard patterns."""
    return _overlap(a, b, literal_b=False)


def arn_like(actual: str, pattern: str) -> bool:
    """``ArnLike``: each of the six colon-separated ARN parts matches on its own (a `*` stays in its part)."""
    a_parts, p_parts = actual.split(":", 5), pattern.split(":", 5)
    if len(a_parts) != 6 or len(p_parts) != 6:
        return glob_match(pattern, actual)
    return all(glob_match(p, a) for p, a in zip(p_parts, a_parts, strict=True))


@cache
def _overlap(a: str, b: str, *, literal_b: bool) -> bool:
    # Dynamic programming over both patterns; `literal_b` treats b's `*`/`?` as plain characters.
    @cache
    def go(i: int, j: int) -> bool:
        a_star = i < len(a) and a[i] == "*"
        b_star = not literal_b and j < len(b) and b[j] == "*"
        if i == len(a) and j == len(b):
            return True
        if a_star and go(i + 1, j):
            return True
        if b_star and go(i, j + 1):
            return True
        if i == len(a) or j == len(b):
            return False
        if a_star:
            return go(i, j + 1)
        if b_star:
            return go(i + 1, j)
        same = a[i] == b[j] or a[i] == "?" or (not literal_b and b[j] == "?")
        return same and go(i + 1, j + 1)

    return go(0, 0)
