"""Structure of the self-contained HTML report: charts as inline SVG with drawn paths, no
scripts, no external resources, everything user-provided escaped, short reasons with the full
detail kept, non-finite values shown as n/a."""

from __future__ import annotations

import math
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from conftest_report import NO_DRIVER_REASON, VARIANTS, FakeWhatIf, make_run

from carbonsdk.model.result import PauseEvent
from carbonsdk.report.html import (
    MAX_POINTS,
    nice_ticks,
    render_html,
    time_ticks,
    write_html,
)


class _Collector(HTMLParser):
    """Collects start tags with attributes and checks that tags balance."""

    VOID: ClassVar[frozenset[str]] = frozenset(
        {"meta", "br", "img", "input", "link", "hr", "line", "rect", "path", "circle"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            if self.stack and self.stack[-1] == tag:
                self.stack.pop()
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> _Collector:
    collector = _Collector()
    collector.feed(page)
    collector.close()
    assert collector.stack == [], f"unclosed tags: {collector.stack}"
    return collector


@pytest.mark.parametrize("variant", VARIANTS)
def test_every_variant_is_well_formed_and_self_contained(variant: str) -> None:
    result = make_run(variant)
    page = render_html(result, whatif=FakeWhatIf(result) if variant == "full" else None)
    doc = parse(page)
    names = [t for t, _ in doc.tags]
    assert "script" not in names
    for tag, attributes in doc.tags:
        assert "src" not in attributes, (tag, attributes)
        assert tag not in {"link", "iframe", "object", "embed", "img"}, tag
        assert not any(k.startswith("on") for k in attributes), (tag, attributes)
    assert "url(" not in page and "@import" not in page
    # every http(s) URL is an attribution link's href
    hrefs = {a.get("href") for t, a in doc.tags if t == "a"}
    for url in re.findall(r"https?://[^\s\"'<>)]+", page):
        assert url in hrefs, url
    assert all(h and h.startswith("https://") for h in hrefs)
    charts = [a.get("id") for t, a in doc.tags if t == "svg"]
    assert charts == ["chart-power", "chart-intensity", "chart-emissions"]


def test_charts_have_drawn_paths() -> None:
    result = make_run("full")
    doc = parse(render_html(result, whatif=FakeWhatIf(result)))
    series = [a for t, a in doc.tags if t == "path" and "series" in (a.get("class") or "")]
    by_name = {a["data-series"]: a for a in series}
    assert set(by_name) == {"gpu", "cpu", "ram", "intensity", "emissions"}
    for name, attributes in by_name.items():
        d = attributes.get("d") or ""
        assert d.startswith("M") and len(d) > 50, name
        coords = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
        assert all(0 <= v <= 800 for v in coords), name
        assert len(set(coords)) > 4, name
    # areas are closed, lines are not
    assert (by_name["gpu"]["d"] or "").endswith("Z")
    assert not (by_name["intensity"]["d"] or "").endswith("Z")
    svgs = [a for t, a in doc.tags if t == "svg"]
    for attributes in svgs:
        assert attributes["viewbox"] == "0 0 800 260"
        assert attributes["role"] == "img"
    texts = " ".join(doc.text)
    for heading in ("Power by component", "Grid carbon intensity", "Cumulative emissions"):
        assert heading in texts


def test_whatif_table_and_metadata() -> None:
    result = make_run("full")
    page = render_html(result, whatif=FakeWhatIf(result))
    doc = parse(page)
    text = " ".join(doc.text)
    for needle in ("SE", "PL", "Flexible Start", "Pause and Resume", "12.0%", "19.0%", "+158%"):
        assert needle in text, needle
    for needle in (
        result.run_id,
        "aws:us-west-2 (US-NW-PACW)",
        "aws:us-west-2 (US-NW-PACW) (as you gave it)",
        "Electricity Maps 2023 hourly (ODbL)",
        "NVIDIA A100-SXM4-80GB",
        "nvml-energy-counter",
        "tag team",
        "host hostname",
        "1.10",
    ):
        assert needle in text, needle
    assert 'class="own"' in page  # the run's own zone is highlighted
    assert "smartphone charges" in text and "km" in text


def test_without_whatif_says_so() -> None:
    doc = parse(render_html(make_run("full")))
    assert "No what-if analysis was given for this run." in " ".join(doc.text)


def test_unknown_region_fallback_and_not_measured_are_visible() -> None:
    unknown = " ".join(parse(render_html(make_run("unknown_region"))).text)
    assert "Region unknown" in unknown and "CARBONSDK_REGION" in unknown
    fallback = " ".join(parse(render_html(make_run("fallback"))).text)
    assert "from electricitymaps: HTTP 401" in fallback
    assert "NVML_ERROR_GPU_IS_LOST" in fallback
    no_gpu = render_html(make_run("no_gpu"))
    text = " ".join(parse(no_gpu).text)
    assert "not measured: no NVIDIA driver (libnvidia-ml not found)" in text
    assert NO_DRIVER_REASON in text  # the full reason is kept under the short one
    assert 'data-series="gpu"' not in no_gpu


def test_user_text_is_escaped() -> None:
    evil = '<script>alert("x")</script>&'
    result = attrs.evolve(
        make_run("full", name=evil),
        tags={"note": "<img src=x onerror=alert(1)>"},
        error='<b>"boom"</b>',
    )
    page = render_html(result)
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "&lt;script&gt;" in page
    doc = parse(page)
    assert evil in " ".join(doc.text)


def test_empty_run_renders_placeholders() -> None:
    page = render_html(make_run("empty"))
    doc = parse(page)
    assert page.count("no data recorded for this run") == 3
    assert not [a for t, a in doc.tags if t == "path" and "series" in (a.get("class") or "")]


def test_long_timeline_is_resampled_and_conserves_the_shape() -> None:
    result = make_run("full", step_s=2.0, n_steps=3600)  # 2 h at 2 s
    page = render_html(result)
    doc = parse(page)
    gpu = next(a for t, a in doc.tags if t == "path" and a.get("data-series") == "gpu")
    points = (gpu["d"] or "").count("L") + 1
    assert points <= 4 * MAX_POINTS + 2
    assert len(page) < 200_000


def test_pauses_are_shaded() -> None:
    base = make_run("full")
    pause = PauseEvent(
        base.started_at + timedelta(minutes=20), base.started_at + timedelta(minutes=30)
    )
    doc = parse(render_html(attrs.evolve(base, pauses=(pause,))))
    rects = [a for t, a in doc.tags if t == "rect" and a.get("class") == "paused"]
    assert len(rects) == 1 and float(rects[0]["width"] or 0) > 10


def test_write_html(tmp_path: Path) -> None:
    target = write_html(make_run("full"), tmp_path / "r.html")
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    with pytest.raises(OSError):
        write_html(make_run("full"), tmp_path / "missing-dir" / "r.html")


def test_nice_ticks_and_time_ticks() -> None:
    assert nice_ticks(0, 697) == [0, 200, 400, 600, 800]
    assert nice_ticks(0, 1) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(0, 0) == [0, 0.2, 0.4, 0.6, 0.8, 1.0]
    t0 = 1_709_647_200.0  # 2024-03-05 14:00 UTC
    assert time_ticks(t0, t0 + 7200) == [t0 + i * 1800 for i in range(5)]
    assert len(time_ticks(t0, t0 + 8 * 86400)) <= 6
    assert len(time_ticks(t0, t0 + 3)) >= 2


def test_real_schedule_whatif_table() -> None:
    from carbonsdk.cli.report import whatif_or_none

    result = make_run("full")
    whatif = whatif_or_none(result)
    assert whatif is not None
    doc = parse(render_html(result, whatif=whatif))
    text = " ".join(doc.text)
    assert "US-NW-PACW (this run)" in text
    assert "Flexible Start" in text and "Pause and Resume" in text
    assert re.search(r"done (\S+ \S+ later|on time)", text)
    assert "This run is short" not in text  # 2 h: the schedules are advice
    rows = [a for t, a in doc.tags if t == "tr" and a.get("class") == "own"]
    assert len(rows) == 1
    short = attrs.evolve(
        result, duration_s=5.0, ended_at=result.started_at + timedelta(seconds=5), energy_kwh=1e-5
    )
    assert "This run is short (5.0 s" in " ".join(parse(render_html(short, whatif=whatif)).text)


@pytest.mark.parametrize(
    "changes",
    [
        {"duration_s": math.nan},
        {"energy_kwh": math.inf, "emissions_g": math.nan, "intensity_g_per_kwh": math.nan},
        {"pue": math.nan, "interval_s": math.inf},
        {"energy_by_component_kwh": {"gpu": math.nan, "cpu": 0.1, "ram": math.inf}},
    ],
)
def test_non_finite_values_render_as_na(changes: dict[str, Any]) -> None:
    result = attrs.evolve(make_run("full"), **changes)
    page = render_html(result, whatif=FakeWhatIf(result))
    text = " ".join(parse(page).text)
    assert "n/a" in text
    assert not re.search(r"\b(nan|inf)\b", text, re.IGNORECASE)
    broken = list(result.timeline)
    broken[2] = attrs.evolve(broken[2], energy_kwh=math.nan, intensity_g_per_kwh=math.inf)
    page = render_html(attrs.evolve(result, timeline=tuple(broken)))
    assert not re.search(r"\b(nan|inf)\b", page.split("</style>")[1], re.IGNORECASE)


def test_marks_job_and_attribution_are_shown() -> None:
    from carbonsdk.model.result import JobInfo, Mark

    base = make_run("full")
    t0 = base.started_at
    epochs = [
        Mark(
            at=t0 + timedelta(minutes=30 * (i + 1)),
            label="epoch_end",
            energy_kwh=0.5 * (i + 1),
            data={"epoch": i},
        )
        for i in range(3)
    ]
    steps = [
        Mark(at=t0 + timedelta(minutes=i), label="step", energy_kwh=0.01 * i, data={"step": i})
        for i in range(60)
    ]
    result = attrs.evolve(
        base,
        marks=tuple(sorted(epochs + steps, key=lambda m: m.at)),
        job=JobInfo(
            launcher="torchrun",
            job_id="torchelastic-abc",
            job_id_source="x",
            rank=0,
            local_rank=0,
            world_size=8,
            local_world_size=4,
            node_rank=0,
            node="gpu-a#0",
            role="host",
        ),
        attributed_energy_by_component_kwh={"cpu": 0.25},
        attributed_emissions_g=80.0,
        attribution={
            "cpu": "this process tree's CPU time over the host's busy CPU time",
            "gpu": "unavailable: NVML reports no process ids of this namespace",
        },
    )
    page = render_html(result)
    doc = parse(page)
    lines = [a for t, a in doc.tags if t == "line" and a.get("class") == "mark"]
    assert len(lines) == 3  # epochs drawn, the 60 step marks left out of the chart
    texts = " ".join(doc.text)
    assert "Marks" in texts and "epoch_end" in texts and "epoch=2" in texts
    assert "step=5" not in texts
    assert "torchelastic-abc" in texts and "rank 0/8" in texts and "gpu-a#0" in texts
    assert "this process tree: cpu" in texts and "250 Wh" in texts
    assert "unavailable: NVML reports" in texts


def test_many_marks_are_thinned() -> None:
    from carbonsdk.model.result import Mark
    from carbonsdk.report.html import MAX_SHOWN_MARKS, shown_marks

    base = make_run("full")
    marks = tuple(
        Mark(
            at=base.started_at + timedelta(seconds=i),
            label="step",
            energy_kwh=i * 1e-3,
            data={"step": i},
        )
        for i in range(1000)
    )
    shown = shown_marks(attrs.evolve(base, marks=marks))
    assert len(shown) == MAX_SHOWN_MARKS and shown[0].data["step"] == 0
    assert [m.at for m in shown] == sorted(m.at for m in shown)
    page = render_html(attrs.evolve(base, marks=marks))
    assert f"{MAX_SHOWN_MARKS} of 1000 marks shown" in page
