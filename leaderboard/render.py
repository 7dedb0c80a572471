"""The rendered board: a static HTML page (Jinja2, autoescaped) and a Markdown table.

Everything shown comes from the SQLite index (:mod:`metabench.leaderboard.store`), which the
suite computed from the raw returns. Every string that came from a submission is escaped: by
Jinja2's autoescaping in HTML (and the page's Content-Security-Policy forbids every script),
by :func:`markdown_escape` in Markdown, and by :func:`plot_label` in plot labels (matplotlib
would otherwise read ``$…$`` as mathtext and drop labels starting with ``_``).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import sqlite3
from pathlib import Path

from metabench.evaluation.results import atomic_write_bytes, atomic_write_text
from metabench.evaluation.stats import Estimate, Summary
from metabench.leaderboard.store import Store

__all__ = ["markdown_escape", "plot_label", "render"]

_TEMPLATES = Path(__file__).parent / "templates"


def markdown_escape(text: str) -> str:
    """``text`` as literal Markdown table-cell text: HTML-escaped, then every Markdown
    punctuation character backslash-escaped (so no link, emphasis, code or cell break)."""
    return re.sub(r"([\\`*_{}\[\]()#+\-.!|~<>])", r"\\\1", html.escape(text, quote=True)).replace("\n", " ")


def plot_label(text: str) -> str:
    """``text`` as a literal matplotlib label."""
    text = text.replace("$", r"\$")
    return f" {text}" if text.startswith("_") else text


def _ci(point: float | None, low: float | None, high: float | None) -> str:
    if point is None:
        return "–"
    return f"{point:.3f} [{low:.3f}, {high:.3f}]"


def _family_rows(db: sqlite3.Connection, env_id: str) -> list[sqlite3.Row]:
    # Ranked entries by rank then IQM; privileged references last.
    return db.execute(
        "SELECT * FROM entries WHERE env_id = ? ORDER BY privileged, rank IS NULL, rank, iqm DESC, id",
        (env_id,),
    ).fetchall()


def _whiskers(rows: list[sqlite3.Row], title: str, path: Path) -> None:
    """Each entry's headline IQM with its 95% CI, one row per entry."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.6, 0.6 + 0.32 * max(len(rows), 1)))
    for y, row in enumerate(reversed(rows)):
        color = "0.55" if row["privileged"] else "C0"
        ax.errorbar(
            row["iqm"],
            y,
            xerr=[[row["iqm"] - row["iqm_low"]], [row["iqm_high"] - row["iqm"]]],
            fmt="o",
            color=color,
            capsize=3,
            markersize=4,
        )
    ax.set_yticks(range(len(rows)), [plot_label(r["method"]) for r in reversed(rows)], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.set_xlabel("IQM with 95% CI", fontsize=8)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(title, fontsize=9)
    ax.grid(axis="x", color="0.9")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80, metadata={"Software": None})
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())


def _curves(db: sqlite3.Connection, rows: list[sqlite3.Row], title: str, path: Path) -> None:
    """Every entry's adaptation curve (IQM per round with its band; mean dashed)."""
    from metabench.evaluation.report import plot_curves

    curves, scored = [], []
    for row in rows:
        rounds = db.execute("SELECT * FROM rounds WHERE entry_id = ? ORDER BY round", (row["id"],)).fetchall()
        scored = [r["round"] for r in rounds if r["scored"]]
        estimate = Estimate(row["iqm"], row["iqm_low"], row["iqm_high"])
        summary = Summary(
            headline={"iqm": estimate, "mean": Estimate(row["mean"], row["mean_low"], row["mean_high"])},
            rounds={
                "iqm": [Estimate(r["iqm"], r["iqm_low"], r["iqm_high"]) for r in rounds],
                "mean": [Estimate(r["mean"], r["mean_low"], r["mean_high"]) for r in rounds],
            },
            normalised=None,
            runs=row["seeds"],
            tasks=row["tasks"],
        )
        curves.append((plot_label(row["method"]), summary))
    plot_curves(curves, scored, title, path)


def render(store: Store, out: Path | None = None, markdown: Path | None = None) -> tuple[Path, Path]:
    """Rebuild the index when its inputs changed, then write ``out/index.html`` with its
    images and the Markdown table.

    Args:
        store: the store.
        out: the page's folder (default ``STORE/site``).
        markdown: the Markdown file (default ``STORE/BOARD.md``); its image links point into
            ``out``.

    Returns:
        The paths of the page and of the Markdown file.
    """
    import jinja2

    out = Path(out) if out is not None else store.root / "site"
    markdown = Path(markdown) if markdown is not None else store.root / "BOARD.md"
    store.build()
    with contextlib.closing(store.connect()) as db:
        meta = {row["key"]: row["value"] for row in db.execute("SELECT key, value FROM meta")}
        families = []
        for family in db.execute("SELECT * FROM families ORDER BY env_id").fetchall():
            rows = _family_rows(db, family["env_id"])
            if not rows:
                continue
            stem = family["env_id"]
            _whiskers(rows, f"{stem}: {family['headline'].replace('_', ' ')}", out / f"{stem}-ci.png")
            _curves(db, rows, f"{stem}: adaptation curves", out / f"{stem}-curves.png")
            families.append(
                {
                    "env_id": stem,
                    "protocol": family["protocol"],
                    "headline": family["headline"].replace("_", " "),
                    "num_tasks": family["num_tasks"],
                    "normaliser": family["normaliser"],
                    "whiskers": f"{stem}-ci.png",
                    "curves": f"{stem}-curves.png",
                    "entries": [
                        {
                            "rank": r["rank"],
                            "tied": bool(r["tied"]),
                            "privileged": bool(r["privileged"]),
                            "method": r["method"],
                            "description": r["description"],
                            "authors": json.loads(r["authors"]),
                            "iqm": _ci(r["iqm"], r["iqm_low"], r["iqm_high"]),
                            "mean": _ci(r["mean"], r["mean_low"], r["mean_high"]),
                            "norm": _ci(r["norm_iqm"], r["norm_low"], r["norm_high"]),
                            "seeds": r["seeds"],
                            "meta_train_steps": r["meta_train_steps"],
                            "paper": r["paper"],
                            "code": r["code"],
                        }
                        for r in rows
                    ],
                }
            )
        overall = [
            {
                "rank": r["rank"],
                "tied": bool(r["tied"]),
                "method": r["method"],
                "ci": _ci(r["iqm"], r["iqm_low"], r["iqm_high"]),
                "runs": r["runs"],
                "families": json.loads(r["families"]),
            }
            for r in db.execute(
                "SELECT * FROM overall ORDER BY complete DESC, rank IS NULL, rank, iqm DESC, method"
            )
        ]
        normalisable = [
            r["env_id"]
            for r in db.execute("SELECT env_id FROM families WHERE normaliser IS NOT NULL ORDER BY env_id")
        ]
        count = db.execute("SELECT count(*) FROM entries").fetchone()[0]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,  # every submission string is escaped
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    page = environment.get_template("board.html.j2").render(
        families=families,
        overall=overall,
        normalisable=normalisable,
        reps=meta["reps"],
        inputs=meta["inputs_sha256"],
        count=count,
    )
    html_path = out / "index.html"
    atomic_write_text(html_path, page)
    atomic_write_text(markdown, _markdown(families, overall, normalisable, meta, count, out, markdown))
    return html_path, markdown


def _markdown(families, overall, normalisable, meta, count, out: Path, markdown: Path) -> str:
    def relative(name: str) -> str:
        try:
            return (out / name).resolve().relative_to(markdown.resolve().parent).as_posix()
        except ValueError:
            return (out / name).resolve().as_uri()

    lines = [
        "# metabench leaderboard",
        "",
        f"Recomputed from the raw returns of {count} submissions under each family's default protocol; "
        f"95% stratified-bootstrap CIs ({meta['reps']} replications). A rank is 1 + the number of entries "
        "whose whole interval lies above; ≈ marks an interval that overlaps another's. `ref`: a privileged "
        f"reference (given the task), unranked. Inputs sha256 `{meta['inputs_sha256'][:16]}`.",
        "",
        "## Overall (normalised: random = 0, optimum = 1)",
        "",
        f"Families with a reference: {', '.join(normalisable) or 'none'}; only methods on all of them are ranked.",
        "",
        "| rank | method | normalised IQM [95% CI] | seeds | families |",
        "|---:|---|---:|---:|---|",
    ]
    for row in overall:
        rank = "–" if row["rank"] is None else str(row["rank"])
        lines.append(
            f"| {rank}{' ≈' if row['tied'] else ''} | {markdown_escape(row['method'])} | {row['ci']} | "
            f"{row['runs']} | {', '.join(row['families'])} |"
        )
    for family in families:
        lines += [
            "",
            f"## {family['env_id']}",
            "",
            f"{family['protocol']}; {family['num_tasks']} held-out tasks. "
            + (
                f"Normalisation: {family['normaliser']}."
                if family["normaliser"]
                else "No normalisation reference."
            ),
            "",
            f"| rank | method | authors | {family['headline']} IQM [95% CI] | mean [95% CI] | normalised IQM | "
            "seeds | meta-train steps |",
            "|---:|---|---|---:|---:|---:|---:|---:|",
        ]
        for e in family["entries"]:
            rank = "ref" if e["rank"] is None else str(e["rank"])
            lines.append(
                f"| {rank}{' ≈' if e['tied'] else ''} | {markdown_escape(e['method'])} | "
                f"{markdown_escape(', '.join(e['authors']))} | {e['iqm']} | {e['mean']} | {e['norm']} | "
                f"{e['seeds']} | {e['meta_train_steps']:,} |"
            )
        lines += ["", f"![CI]({relative(family['whiskers'])}) ![curves]({relative(family['curves'])})"]
    return "\n".join(lines) + "\n"
