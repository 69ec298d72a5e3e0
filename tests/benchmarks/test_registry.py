"""The registry: every spec is well formed, names resolve, aliases point where the reference's registry did."""

from __future__ import annotations

import pytest

from lm_eval_ja.benchmarks import registry
from lm_eval_ja.names import TaskName

JGLUE_NAMES = (
    [f"jcommonsenseqa-1.1-{v}" for v in ("0.1", "0.2", "0.2.1", "0.3", "0.4", "0.5", "0.6")]
    + [f"jnli-{d}-{v}" for d in ("1.1", "1.3") for v in ("0.2", "0.3", "0.4", "0.5", "0.6")]
    + [f"marc_ja-1.1-{v}" for v in ("0.2", "0.3", "0.4", "0.5", "0.6")]
    + [f"jsquad-1.1-{v}" for v in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6")]
    + [f"jsquad-1.2-{v}" for v in ("0.2", "0.3", "0.4", "0.5", "0.6")]
    + ["jcommonsenseqa", "jnli", "marc_ja", "jsquad"]
)
WIDER_NAMES = (
    {"jcola", "xwinograd_ja", "mgsm", "jaqket_v2", "xlsum_ja", "jaquad", "jaqket_v2_closedbook", "ja8"}
    | {f"jcola-0.2-{v}" for v in ("0.0", "0.3", "0.4", "0.5", "0.6")}
    | {f"mgsm-1.0-{v}" for v in ("0.0", "0.3", "0.4", "0.5", "0.6")}
    | {f"xlsum_ja-1.0-{v}" for v in ("0.0", "0.3", "0.4", "0.5", "0.6")}
    | {f"jaqket_v2-0.2-{v}" for v in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6")}
    | {f"jaquad-0.1-{v}" for v in ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6")}
    | {f"ja8-{v}" for v in ("0.2", "0.3", "0.4", "0.5", "0.6")}
)


def test_every_reference_name_exists():
    names = set(registry.all_names())
    assert set(JGLUE_NAMES) <= names and WIDER_NAMES <= names
    assert {"ja_mt_bench", "ja_mt_bench_writing", "ja_mt_bench-fastchat", "ja_mt_bench_writing-fastchat",
            "elyza_tasks_100"} <= names


@pytest.mark.parametrize("alias, target", [("jcommonsenseqa", "1.1-0.1"), ("jnli", "1.3-0.2"), ("marc_ja", "1.1-0.2"),
                                           ("jsquad", "1.1-0.1"), ("jcola", "0.2-0.0"), ("mgsm", "1.0-0.0"),
                                           ("xlsum_ja", "1.0-0.0"), ("jaqket_v2", "0.2-0.1"), ("jaquad", "0.1-0.1")])
def test_aliases_point_where_the_reference_registry_points(alias, target):
    resolved = registry.resolve(alias)
    assert f"{resolved.version.version}-{resolved.prompt_version}" == target


def test_task_names_round_trip_through_task_name():
    other_names = {n for b in registry.benchmarks() for n in b.other_names}  # a published harness's own names
    for name in registry.task_names():
        if name in other_names:
            continue
        parsed = TaskName.parse(name)
        assert str(parsed) == name
        assert registry.resolve(name).benchmark.name == parsed.benchmark


@pytest.mark.parametrize("bench", registry.benchmarks(), ids=lambda b: b.name)
def test_every_spec_is_well_formed(bench):
    metrics = {m.name for m in bench.metrics}
    assert bench.headline.metric in metrics, "the headline is one of the reported metrics"
    assert bench.headline.factor in (1.0, 100.0)
    if not bench.judged:  # rule-scored metrics are reported on 0–100; a judge's scale is its own (1–10, 1–5, ...)
        assert bench.headline.scale == "0–100"
    assert bench.eval_split in bench.sources or bench.split.kind in ("column", "hash")
    formats = {s.format or bench.format for s in bench.sources.values()}
    formats |= {s.online_format for s in bench.sources.values() if s.online_format}
    assert formats <= set(registry.readers()), formats
    assert bench.title and bench.versions
    if bench.conversation:  # answered turn by turn, scored by a judge or by rule: no requests or prompt of its own
        assert bench.requests is None and bench.versions[0].template is None
    elif bench.prompt_style == "reference":
        assert bench.requests is not None and bench.sampler == "reference"


def test_headline_lookup_for_tasks_groups_and_foreign_names():
    assert registry.headline("niilc-llmjp-1.0")[1].metric == "char_f1"
    column, rule = registry.headline("jmmlu-llmjp-1.0")
    assert (column, rule.metric, rule.factor) == ("jmmlu", "acc", 100.0)
    assert registry.headline("jsquad-1.1-0.2")[1].factor == 1.0  # jasquad EM is already 0–100
    assert registry.headline("arc_easy") is None
