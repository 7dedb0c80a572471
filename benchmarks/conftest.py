"""Shared by the benchmark suites: every figure we report is a ratio against a reference
measured in the same run, so print those ratios at the end of the run.

A benchmark that timed a reference alongside itself (interleaved round by round, so both see
the same machine load) stores it as ``benchmark.extra_info["reference"] = {"name": ...,
"median": seconds, "min": seconds}``; the ratio reported is reference time / its time, so a
ratio ≥ 1 means at least as fast as the reference.
"""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter, config) -> None:
    session = getattr(config, "_benchmarksession", None)
    if session is None:
        return
    lines = []
    for bench in session.benchmarks:
        reference = bench.extra_info.get("reference") if bench else None
        if not reference:
            continue
        median, fastest = bench.stats.median, bench.stats.min
        lines.append(
            f"{bench.name}: {reference['median'] / median:.3f}x median "
            f"({median * 1e6:.1f} vs {reference['median'] * 1e6:.1f} us), "
            f"{reference['min'] / fastest:.3f}x min vs {reference['name']}"
        )
    if lines:
        terminalreporter.write_sep("-", "speed ratios: reference time / time (>= 1: as fast or faster)")
        for line in lines:
            terminalreporter.write_line(line)
