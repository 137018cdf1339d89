"""Every relative link of README.md and docs/*.md resolves: the file exists and, for a
``#anchor``, the target has a heading with that anchor (GitHub's rule: lower case, backticks and
punctuation other than ``-`` and ``_`` dropped, spaces to ``-``, ``-1``, ``-2`` for repeats)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\((<[^>]+>|[^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading.

    >>> slug("`jfe`: joint fusion and encoding with a multimodal LLM (`retrievers/jfe/`)")
    'jfe-joint-fusion-and-encoding-with-a-multimodal-llm-retrieversjfe'
    >>> slug("Named options (recorded in meta.json through `describe()`)")
    'named-options-recorded-in-metajson-through-describe'
    """
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for line in FENCE.sub("", path.read_text()).splitlines():
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            out.add(base if count == 0 else f"{base}-{count}")
            seen[base] = count + 1
    return out


def links(path: Path) -> list[str]:
    text = FENCE.sub("", path.read_text())
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [m.group(1).strip("<>") for m in LINK.finditer(text)]


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_anchors_resolve(document):
    broken = []
    for target in links(document):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (document.parent / path).resolve() if path else document
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not broken, "\n".join(broken)


def test_the_checker_finds_a_broken_anchor(tmp_path):
    (tmp_path / "a.md").write_text("# Title\n\n## `jfe`: fused (`x/`)\n\n[ok](#jfe-fused-x) [bad](#jfe-fused-xpy)\n"
                                   "```\n[in code](#nothing)\n```\n")
    assert anchors(tmp_path / "a.md") == {"title", "jfe-fused-x"}
    assert links(tmp_path / "a.md") == ["#jfe-fused-x", "#jfe-fused-xpy"]
