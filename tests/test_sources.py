"""Sources are named by seed file name and cited only for what the seed says.

The seeds live beside the repository, in ../shared/seeds/ (the same relative path from every
clone); docs and code name them by file name there, never by a machine's absolute path.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from harness.paths import REPO

SEEDS = REPO.parent / "shared" / "seeds"
SEED_REF = re.compile(r"\.\./shared/seeds/([0-9]{3}_[0-9a-f]+\.txt)")
TEXT = (".md", ".py", ".json", ".j2", ".html", ".yml", ".txt")


def _texts() -> dict[Path, str]:
    files = [REPO / "README.md"] + [p for d in ("docs", "harness", "node_app")
                                    for p in sorted((REPO / d).rglob("*")) if p.suffix in TEXT]
    return {p: p.read_text(errors="replace") for p in files if "__pycache__" not in p.parts}


def _seed(name: str) -> str:
    if not SEEDS.is_dir():
        pytest.skip(f"no seeds beside the repository ({SEEDS})")
    return " ".join((SEEDS / name).read_text().split())


def test_no_machine_paths_to_the_seeds_or_the_work_tree() -> None:
    bad = [f"{p.relative_to(REPO)}:{n}" for p, text in _texts().items()
           for n, line in enumerate(text.splitlines(), 1)
           if re.search(r"/work/|/shared/seeds/", line) and not SEED_REF.search(line)]
    assert not bad, bad


def test_every_seed_named_exists() -> None:
    refs = {m for text in _texts().values() for m in SEED_REF.findall(text)}
    assert "001_f99bf2dc503869cb.txt" in refs  # Cao's report, the profiles' source
    missing = [name for name in sorted(refs) if not (SEEDS.is_dir() and (SEEDS / name).exists())]
    if not SEEDS.is_dir():
        pytest.skip(f"no seeds beside the repository ({SEEDS})")
    assert not missing, missing


def test_profile_cites_only_what_its_seed_says() -> None:
    profiles = json.loads((REPO / "node_app" / "profiles.json").read_text())
    cited = 0
    for name, profile in profiles.items():
        for key, text in (profile or {}).items():
            if not key.endswith("basis"):
                continue
            for ref in SEED_REF.findall(text):
                seed = _seed(ref)
                quotes = re.findall(r"'([^']{3,})'", text)
                assert quotes, f"{name}.{key} names {ref} but quotes nothing from it"
                for quote in quotes:
                    assert " ".join(quote.split()) in seed, f"{name}.{key}: {quote!r} not in {ref}"
                for year in re.findall(r"\b(?:19|20)\d\d\b", text):
                    assert year in seed, f"{name}.{key}: year {year} is not in {ref}"
                cited += 1
    assert cited >= 1, "rpi3bplus's basis must name its seed (../shared/seeds/001_...)"
