"""The manual builds: `mkdocs build --strict` with mkdocs.yml's validation settings, so a
broken link, a missing anchor or image, or a page left out of the nav fails `make test`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.docs


def test_docs_build_strictly(tmp_path: Path) -> None:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"make docs fails:\n{result.stdout}\n{result.stderr}"
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "images" / "state-machine.svg").is_file()
    # The Mermaid fence is handed to the theme as a div it renders, not a code block.
    how = (tmp_path / "site" / "how-it-works" / "index.html").read_text()
    assert '<pre class="mermaid">' in how or '<div class="mermaid">' in how
