"""No function in src/ or tools/ is rated worse than C by radon's cyclomatic complexity (D starts at 21):
a longer chain of decisions is split into named steps. The failure lists every offender, with its
rank and score, so nothing is excluded silently."""

from __future__ import annotations

from pathlib import Path

from radon.complexity import cc_rank, cc_visit

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("src", "tools")
WORST_ALLOWED = "C"


def _blocks(path: Path) -> list[tuple[str, int, int]]:
    """(name, line, complexity) of every function, method and class of a file, as `radon cc` lists them
    (a function's closures count in its own score; a class scores the average of its methods)."""
    return [(block.fullname, block.lineno, block.complexity) for block in cc_visit(path.read_text(encoding="utf-8"))]


def _offenders() -> list[str]:
    offenders = []
    for folder in CHECKED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for name, line, complexity in _blocks(path):
                rank = cc_rank(complexity)
                if rank > WORST_ALLOWED:
                    offenders.append(f"{path.relative_to(ROOT)}:{line} {name} - {rank} ({complexity})")
    return offenders


def test_no_function_is_rated_worse_than_c() -> None:
    offenders = _offenders()
    assert not offenders, "Split into named steps (radon rates these worse than C):\n" + "\n".join(offenders)


def test_the_check_sees_a_complex_function() -> None:
    """The check itself works: a function with 21 decisions is rated D and would be reported."""
    source = "def f(x):\n" + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(21)) + "    return -1\n"
    (block,) = cc_visit(source)
    assert cc_rank(block.complexity) == "D"
