"""`make help` lists every target that carries a `## ` comment, with that comment."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.support import ROOT


def documented_targets() -> dict[str, str]:
    found = {}
    for line in (ROOT / "Makefile").read_text().splitlines():
        target, sep, comment = line.partition(" ## ")
        if sep and ":" in target and not line.startswith(("\t", "#", " ")):
            found[target.split(":", 1)[0]] = " ".join(comment.split())
    return found


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_help_lists_each_documented_target_with_its_comment() -> None:
    targets = documented_targets()
    assert {"help", "test", "demo", "up"} <= set(targets)
    result = subprocess.run(["make", "--no-print-directory", "-s", "help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    listed = {line.split()[0]: " ".join(line.split()[1:]) for line in result.stdout.splitlines() if line.strip()}  # fmt: skip
    assert listed == targets


def test_help_is_phony() -> None:
    phony = next(
        line for line in (ROOT / "Makefile").read_text().splitlines() if line.startswith(".PHONY:")
    )
    assert "help" in phony.split()
