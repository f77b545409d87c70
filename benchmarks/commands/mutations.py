"""Mutants: realistic code changes nobody wrote a switch for; the gate must catch each.

R1..R8 prove the gate catches the mistakes it was built around. A gate is judged by the
ones nobody listed, so the self-test also applies each patch of ``benchmarks/mutants/``
(a slower handler, a leak, a shorter TTL, a bigger query, extra round-trips, ...) to a
throwaway copy of ``HEAD``, builds that copy's service image, and judges it the way
``make bench BASE=HEAD`` judges a change: against ``HEAD`` itself, in interleaved rounds
from the same seeded rows, with the ``[[relative]]`` limits, plus the absolute budgets
of every round. A mutant is *caught* when a budget it names fails; the control
(``unchanged``, the very image of ``HEAD``: an A/A run) must pass every one.

One base serves every mutant, so the cost is one round per variant per cycle instead of
two: a cycle runs base, then each variant; the next cycle the reverse order, so base and
each variant alternate as in ``--base`` (pairs of rounds for the pair-agreement rule).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

from benchmarks.judge.budgets import Budget, Verdict, evaluate
from benchmarks.judge.relative import RelativeLimit, judge_versus_base
from benchmarks.measure.phases import PhasePlan
from benchmarks.measure.revisions import Revision, RevisionError, exported, resolve_ref
from benchmarks.measure.versus_base import ROUND_SCENARIO, block, round_entry, run_round
from containers.images import ImageBuildError, ensure_service_image
from containers.stack import Stack
from scenarios.registry import Scenario

__all__ = [
    "CONTROL",
    "MUTANTS",
    "MUTANTS_DIR",
    "Mutant",
    "MutantResult",
    "check_patches",
    "cycle_order",
    "judge_mutant",
    "run_mutants",
]

MUTANTS_DIR = Path(__file__).resolve().parents[1] / "mutants"
#: Rounds per variant (and of base): at least 3 a side, as ``--base`` runs.
CYCLES = 3
Log = Callable[[str], None]


@dataclass(frozen=True)
class Mutant:
    """One code change, and the budgets (any of them) that must catch it."""

    name: str
    expected: tuple[str, ...]

    @property
    def patch(self) -> Path | None:
        return MUTANTS_DIR / f"{self.name}.patch" if self.expected else None

    @property
    def is_control(self) -> bool:
        return not self.expected

    @property
    def description(self) -> str:
        """The patch's first line (``Mutant: ...``), or what the control is."""
        if self.patch is None:
            return "HEAD against itself, the same image on both sides (A/A)"
        if not self.patch.is_file():
            return f"(no patch {self.patch.name})"
        first = self.patch.read_text(encoding="utf-8").splitlines()[0]
        return first.removeprefix("Mutant:").strip()


#: The A/A control: no patch, base's own image.
CONTROL = Mutant("unchanged", ())
MUTANTS: tuple[Mutant, ...] = (
    Mutant("slow-handler", ("p50_vs_base", "p95_vs_base")),
    Mutant("memory-leak", ("service_memory_vs_base",)),
    Mutant("short-ttl", ("cache_hit_rate_vs_base",)),
    Mutant("embedding-in-cards", ("pg_bytes_vs_base",)),
    Mutant("redis-get-per-item", ("redis_vs_base",)),
    Mutant("extra-sql", ("sql_vs_base",)),
    Mutant("lost-limit", ("pg_rows_vs_base",)),
    Mutant("short-max-age", ("http_contract",)),
    Mutant("near-cache-off", ("redis_vs_base", "redis_per_recommendations_near_hit")),
)


def _apply(patch: Path, tree: Path, *, check: bool = False) -> None:
    """Apply ``patch`` to the files under ``tree`` (or only check that it applies)."""
    command = ["git", "apply", *(["--check"] if check else []), str(patch)]
    done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RevisionError(
            f"mutant {patch.name} does not apply to {tree}: {done.stderr.strip()} "
            "(update the patch to the current code: apply it by hand, then `git diff`)"
        )


def check_patches(tree: Path, mutants: Sequence[Mutant] = MUTANTS) -> None:
    """Every mutant's patch applies to ``tree``; :class:`RevisionError` names one that does not."""
    for mutant in mutants:
        if mutant.patch is not None:
            _apply(mutant.patch, tree, check=True)


@contextmanager
def mutant_revisions(
    mutants: Sequence[Mutant], log: Log
) -> Iterator[tuple[Revision, dict[str, Revision]]]:
    """HEAD's revision, and one per mutant (the control: HEAD's very image).

    The mutants' images are removed afterwards: their tags hash a tree nobody commits.
    """
    commit = resolve_ref("HEAD")
    made: list[str] = []
    try:
        with exported(commit) as tree, tempfile.TemporaryDirectory(prefix="mutant-") as work:
            base_image = _build(tree, "HEAD", log)
            base = Revision(ref="HEAD", commit=commit, service_image=base_image)
            variants: dict[str, Revision] = {}
            for mutant in mutants:
                if mutant.patch is None:
                    variants[mutant.name] = base
                    continue
                copy = Path(work) / mutant.name
                shutil.copytree(tree, copy)
                _apply(mutant.patch, copy)
                image = _build(copy, f"HEAD + {mutant.name}", log)
                made.append(image)
                variants[mutant.name] = Revision(f"HEAD+{mutant.name}", commit, image)
        yield base, variants
    finally:
        _remove_images(made, log)


def _build(tree: Path, what: str, log: Log) -> str:
    try:
        return ensure_service_image(tree, progress=log)
    except ImageBuildError as error:
        raise RevisionError(f"the service of {what} does not build: {error}") from None


def _remove_images(tags: Sequence[str], log: Log) -> None:
    if not tags:
        return
    try:
        client = docker.from_env()
        for tag in tags:
            client.images.remove(tag, noprune=False)
    except DockerException as error:  # cleanup only: the next build reuses or prunes them
        log(f"mutants: could not remove a mutant image: {error}")


def cycle_order(variants: Sequence[str], cycles: int = CYCLES) -> list[str]:
    """Base then every variant; the next cycle the reverse: base a b, b a base, base a b."""
    if cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles}")
    one = ["base", *variants]
    order: list[str] = []
    for index in range(cycles):
        order += one if index % 2 == 0 else one[::-1]
    return order


@dataclass(frozen=True)
class MutantResult:
    """A mutant judged: its relative verdicts and the absolute budgets of its rounds."""

    mutant: Mutant
    versus_base: dict[str, Any]
    verdicts: tuple[Verdict, ...]
    duration_s: float | None = None

    @property
    def failed(self) -> tuple[str, ...]:
        """Every budget or relative limit that failed on a real measurement."""
        relative = {v["name"] for v in self.versus_base.get("verdicts", []) if not v["passed"]}
        absolute = {v.budget for v in self.verdicts if v.failed and v.measured is not None}
        return tuple(sorted(relative | absolute))

    @property
    def caught(self) -> tuple[str, ...]:
        return tuple(name for name in self.mutant.expected if name in self.failed)

    @property
    def errors(self) -> list[str]:
        return list(self.versus_base.get("errors") or [])

    @property
    def ok(self) -> bool:
        """Caught (a mutant); every limit held and every round ran (the control)."""
        if self.mutant.is_control:
            return not self.failed and not self.errors and bool(self.versus_base.get("verdicts"))
        return bool(self.caught)

    def to_json(self) -> dict[str, Any]:
        return {
            "mutant": self.mutant.name,
            "description": self.mutant.description,
            "control": self.mutant.is_control,
            "expected": list(self.mutant.expected),
            "failed": list(self.failed),
            "caught": list(self.caught),
            "ok": self.ok,
            "errors": self.errors,
            "duration_s": self.duration_s,
            "verdicts": [verdict.to_json() for verdict in self.verdicts if verdict.failed],
            # Raw latencies stay out: every mutant's block repeats base's rounds.
            "versus_base": {**self.versus_base, "samples": {}},
        }


def judge_mutant(
    mutant: Mutant,
    versus: dict[str, Any],
    phases: Sequence[dict[str, Any]],
    budgets: Sequence[Budget],
    relative: Sequence[RelativeLimit],
    *,
    duration_s: float | None = None,
) -> MutantResult:
    """Judge a mutant's block with the relative limits, and its rounds with the phase budgets."""
    versus = {**versus, "verdicts": judge_versus_base(versus, relative)}
    versus["passed"] = not versus["errors"] and all(v["passed"] for v in versus["verdicts"])
    phase_budgets = [budget for budget in budgets if budget.scope == "phase"]
    verdicts = tuple(evaluate({"phases": list(phases)}, phase_budgets))
    return MutantResult(mutant, versus, verdicts, duration_s)


def run_mutants(
    stack: Stack,
    mutants: Sequence[Mutant],
    budgets: Sequence[Budget],
    relative: Sequence[RelativeLimit],
    *,
    work_dir: Path,
    scenario: Scenario = ROUND_SCENARIO,
    cycles: int = CYCLES,
    log: Log = print,
) -> list[MutantResult]:
    """Every mutant against HEAD on ``stack`` (seeded; its snapshot taken), then judged."""
    began = time.monotonic()
    stack.replicas = 1
    with mutant_revisions(mutants, log) as (base, variants):
        names = [mutant.name for mutant in mutants]
        order = cycle_order(names, cycles)
        entries: dict[str, list[dict[str, Any]]] = {name: [] for name in ["base", *names]}
        phases: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
        latencies: dict[str, dict[str, list[float]]] = {}
        # One round of base first, not measured: the first round of a run was the slowest
        # of its cycle (its recommendations p50 above a +20 ms mutant's in one self-test).
        warmup = PhasePlan("warm-up", "optimized", frozenset(), scenario, gated=True)
        log("mutants: a warm-up round of base (not judged)")
        run_round(stack, "warm-up", base, warmup, work_dir=work_dir, log=log)
        for position, variant in enumerate(order, start=1):
            revision = base if variant == "base" else variants[variant]
            name = f"{variant}-{len(entries[variant]) + 1}"
            plan = PhasePlan(name, "optimized", frozenset(), scenario, gated=True)
            log(f"mutants: round {position}/{len(order)}, {name} ({revision.service_image})")
            phase, latencies[name] = run_round(
                stack, name, revision, plan, work_dir=work_dir, log=log
            )
            side = "base" if variant == "base" else "head"
            entries[variant].append(round_entry(phase, side, revision))
            if variant != "base":
                phases[variant].append(phase)
        stack.restore_database()
        per_round = (time.monotonic() - began) / max(len(order), 1)
        results = []
        for mutant in mutants:
            # Each cycle's base round beside the mutant's round of that cycle.
            rounds = [
                entry
                for pair in zip(entries["base"], entries[mutant.name], strict=True)
                for entry in pair
            ]
            versus = block(base, variants[mutant.name], scenario, rounds, latencies)
            results.append(
                judge_mutant(
                    mutant,
                    versus,
                    phases[mutant.name],
                    budgets,
                    relative,
                    duration_s=round(per_round * cycles, 1),
                )
            )
    return results
