"""Move one README section, as it is, into a docs page (issue 15: move, don't rewrite).

    python tools/move_readme_section.py "When something fails" docs/operations/when-something-fails.md
    python tools/move_readme_section.py "Speed" docs/contributing.md --append
    python tools/move_readme_section.py "Document schema" docs/schema.md --dry-run

A section is its heading line and everything up to the next heading of the same or a
higher level; ``#`` lines inside fenced code blocks (shell comments) are not headings.
Without ``--append`` the section replaces the page, its heading becoming the page title
(``#``); with ``--append`` it goes after what the page has, its heading at ``##``. The
levels below it shift by the same amount, so its sub-headings keep their shape. README
keeps a one-line pointer to the page where the section was (``--no-pointer``: nothing).

What cannot be moved mechanically is listed, not guessed: relative links in the moved
text (they were relative to the repository root; they now need to point into docs/ or at
the repository), and the files outside docs/ that quote the section's name (a test that
reads the README, a docstring saying 'see README "Speed"').
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^\s*(```|~~~)")
LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s]+)")


@dataclass(frozen=True)
class Section:
    """Where a section sits in the README's lines, and its heading level."""

    start: int
    end: int  # exclusive
    level: int
    title: str


def headings(lines: Sequence[str]) -> list[tuple[int, int, str]]:
    """(line index, level, title) of every heading outside fenced code blocks."""
    found, fence = [], ""
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if match:
            marker = match.group(1)
            fence = "" if fence == marker else (fence or marker)
            continue
        if fence:
            continue
        heading = HEADING.match(line)
        if heading:
            found.append((i, len(heading.group(1)), heading.group(2)))
    return found


def find(lines: Sequence[str], title: str) -> Section:
    """The section whose heading text is title (without the #s; exactly one must match)."""
    all_headings = headings(lines)
    matches = [(i, level) for i, level, text in all_headings if text == title]
    if len(matches) != 1:
        known = ", ".join(repr(text) for _, _, text in all_headings)
        raise SystemExit(f"{len(matches)} headings are {title!r}; the README's are: {known}")
    start, level = matches[0]
    end = next((i for i, lv, _ in all_headings if i > start and lv <= level), len(lines))
    return Section(start, end, level, title)


def shift(lines: Sequence[str], by: int) -> list[str]:
    """The lines with every heading outside code fences moved by ``by`` levels (1..6)."""
    out = list(lines)
    for i, level, text in headings(lines):
        out[i] = "#" * min(6, max(1, level + by)) + " " + text
    return out


def slug(title: str) -> str:
    """The anchor MkDocs' toc gives a heading (lower case, punctuation dropped, - for spaces)."""
    text = re.sub(r"[^\w\s-]", "", title.strip().lower())
    return re.sub(r"[-\s]+", "-", text).strip("-")


def move(
    readme: str, page: str, title: str, page_path: str, append: bool, pointer: bool
) -> tuple[str, str, str]:
    """The new README, the new page, and the moved text."""
    lines = readme.split("\n")
    section = find(lines, title)
    body = lines[section.start : section.end]
    while body and not body[-1].strip():
        body.pop()
    moved = shift(body, (2 if append else 1) - section.level)
    before = page.rstrip("\n") + "\n\n" if append else ""
    new_page = before + "\n".join(moved) + "\n"
    rest = lines[: section.start]
    if pointer:
        anchor = f"#{slug(title)}" if append else ""
        rest += [
            "#" * section.level + " " + title,
            "",
            f"Moved to [{title}]({page_path}{anchor}).",
            "",
        ]
    rest += lines[section.end :]
    return "\n".join(rest), new_page, "\n".join(moved)


def quoted_elsewhere(title: str) -> list[str]:
    """Tracked files outside docs/ and README.md that mention the section's title."""
    result = subprocess.run(
        ["git", "grep", "-n", "-F", title, "--", ".", ":!docs", ":!README.md"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return result.stdout.splitlines()


def main(argv: Sequence[str] | None = None) -> int:
    """Move the section, then list what needs a hand."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("title", help="the heading's text, without the #s")
    parser.add_argument("page", type=Path, help="the docs page, e.g. docs/operations/when-something-fails.md")
    parser.add_argument("--append", action="store_true", help="add to the page instead of replacing it")
    parser.add_argument("--no-pointer", action="store_true", help="leave nothing in README where it was")
    parser.add_argument("--dry-run", action="store_true", help="print the page instead of writing")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    page_text = args.page.read_text() if args.page.exists() else ""
    readme_text, new_page, moved = move(
        args.readme.read_text(),
        page_text,
        args.title,
        args.page.resolve().relative_to(args.readme.resolve().parent).as_posix(),
        args.append,
        not args.no_pointer,
    )
    if args.dry_run:
        print(new_page, end="")
    else:
        args.page.parent.mkdir(parents=True, exist_ok=True)
        args.page.write_text(new_page)
        args.readme.write_text(readme_text)
        print(f"moved {args.title!r} to {args.page}")
    for link in sorted(set(LINK.findall(moved))):
        print(f"  relative link to fix (it was relative to the repository root): {link}", file=sys.stderr)
    for hit in quoted_elsewhere(args.title):
        print(f"  mentions {args.title!r}: {hit}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
