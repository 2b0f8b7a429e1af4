"""Regex expectations on a text (output, body, file content), reported as sentences for a user."""

from __future__ import annotations

import re

from harness.checks.spec import TextExpectation

SHOWN_CHARS = 400


def text_problems(what: str, text: str, expectation: TextExpectation) -> list[str]:
    """One sentence per regex of ``expectation`` that ``text`` (called ``what``) does not satisfy."""
    problems = [f"expected {what} to match /{pattern}/" for pattern in expectation.found
                if re.search(pattern, text) is None]
    for pattern in expectation.absent:
        found = re.search(pattern, text)
        if found is not None:
            problems.append(f"expected {what} not to match /{pattern}/, but it has {found.group(0)!r}")
    if problems:
        problems.append(f"{what} was {shown(text)}")
    return problems


def missing(text: str, expectation: TextExpectation) -> list[str]:
    """The patterns of ``expectation.found`` not yet found in ``text`` (for reading until they are)."""
    return [pattern for pattern in expectation.found if re.search(pattern, text) is None]


def shown(text: str) -> str:
    """``text`` as a failure message shows it: quoted, cut to its last characters when long."""
    if not text:
        return "empty"
    if len(text) <= SHOWN_CHARS:
        return repr(text)
    return f"(last {SHOWN_CHARS} of {len(text)} characters) {text[-SHOWN_CHARS:]!r}"
