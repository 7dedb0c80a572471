"""``metabench leaderboard``: prepare, validate, submit, build, render, compare, serve.

Importing this module is cheap (argparse only); each command imports what it needs.
Every rejection prints what was wrong and exits with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape

__all__ = ["add_parser", "run"]

#: The store used when ``--store`` is not given.
DEFAULT_STORE = os.environ.get("METABENCH_LEADERBOARD", "leaderboard")


def add_parser(commands: argparse._SubParsersAction) -> None:
    """Add the ``leaderboard`` command group to ``metabench``'s subcommands."""
    group = commands.add_parser(
        "leaderboard",
        help="validate, submit and rank submissions; render the board",
        description="The leaderboard: submissions are harness result files plus metadata; the board shows "
        "only what it recomputed from the raw returns, under each family's default protocol.",
    )
    sub = group.add_subparsers(dest="leaderboard_command", required=True)

    def with_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument(
            "--store",
            default=DEFAULT_STORE,
            help=f"the store directory (default {DEFAULT_STORE}; env METABENCH_LEADERBOARD)",
        )
        parser.add_argument("--reps", type=int, default=2000, help="bootstrap replications (default 2000)")
        return parser

    prepare = sub.add_parser("prepare", help="wrap a result file into a submission")
    prepare.add_argument("result", help="a complete result file from metabench evaluate")
    prepare.add_argument("--method", required=True, help="the method's name on the board")
    prepare.add_argument("--author", action="append", required=True, help="an author; repeatable")
    prepare.add_argument("--contact", required=True, help="an e-mail address or URL")
    prepare.add_argument("--paper", help="http(s) link to the paper")
    prepare.add_argument("--code", help="http(s) link to the code")
    prepare.add_argument("--description", default="", help="one paragraph")
    prepare.add_argument(
        "--meta-train-steps", type=int, help="environment steps of meta-training (default: the result's)"
    )
    prepare.add_argument("--out", required=True, help="the submission file to write")

    validate = with_store(sub.add_parser("validate", help="check a submission against every rule"))
    validate.add_argument("file")
    submit = with_store(sub.add_parser("submit", help="validate, add to the store, rebuild the index"))
    submit.add_argument("file")
    with_store(sub.add_parser("build", help="rebuild the SQLite index from the submission files"))
    render = with_store(sub.add_parser("render", help="write the HTML board and the Markdown table"))
    render.add_argument("--out", help="folder of the HTML page (default STORE/site)")
    render.add_argument("--markdown", help="the Markdown table (default STORE/BOARD.md)")
    compare = with_store(sub.add_parser("compare", help="probability of improvement between two entries"))
    compare.add_argument("env", help="the family id")
    compare.add_argument("a", help="method name or entry id")
    compare.add_argument("b", help="method name or entry id")
    serve = with_store(sub.add_parser("serve", help="a small HTTP service over the store (127.0.0.1)"))
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument(
        "--token-file",
        required=True,
        help="file holding the submitter token (POST needs it as a Bearer token)",
    )


def _error(console: Console, error: Exception) -> int:
    console.print(f"[red]error:[/red] {escape(str(error))}", highlight=False)
    return 1


def run(args: argparse.Namespace, console: Console) -> int:
    """Run one ``metabench leaderboard`` command."""
    from metabench.leaderboard.store import Store, StoreError
    from metabench.leaderboard.validate import SubmissionError

    command = args.leaderboard_command
    try:
        if command == "prepare":
            return _prepare(args, console)
        store = Store(args.store, reps=args.reps)
        if command in ("validate", "submit"):
            try:
                data = Path(args.file).read_bytes()
            except OSError as error:
                raise SubmissionError(args.file, [f"cannot read ({error.strerror or error})"]) from None
            if command == "validate":
                accepted = store.validate(data, where=args.file)
                console.print(
                    f"{escape(args.file)}: valid (content hash {accepted.hash[:16]})", highlight=False
                )
            else:
                entry = store.submit(data, where=args.file)
                console.print(f"accepted {escape(args.file)} as {entry.path}; index rebuilt", highlight=False)
            return 0
        if command == "build":
            path = store.build()
            console.print(f"wrote {path} from {len(store.files())} submissions")
            return 0
        if command == "render":
            from metabench.leaderboard.render import render

            html, markdown = render(
                store,
                Path(args.out) if args.out else None,
                Path(args.markdown) if args.markdown else None,
            )
            console.print(f"wrote {html} and {markdown}")
            return 0
        if command == "compare":
            row_a, row_b, estimate = store.improvement(args.env, args.a, args.b)
            console.print(
                f"P({escape(row_a['method'])} > {escape(row_b['method'])}) on a random held-out task of "
                f"{args.env} = {estimate} (rliable's probability of improvement, 95% CI)",
                highlight=False,
            )
            return 0
        if command == "serve":
            from metabench.leaderboard.serve import serve

            token = Path(args.token_file).read_text().strip()
            serve(store, port=args.port, token=token, console=console)
            return 0
    except (SubmissionError, StoreError, OSError, ValueError) as error:
        return _error(console, error)
    raise AssertionError(f"unknown leaderboard command {command!r}")


def _prepare(args: argparse.Namespace, console: Console) -> int:
    from metabench.evaluation.results import EvaluationResult, atomic_write_text
    from metabench.leaderboard.schema import Submission
    from metabench.leaderboard.validate import SubmissionError, recomputed_summary

    result = EvaluationResult.load(args.result)
    if result.status != "complete":
        raise SubmissionError(args.result, ["partial result; finish it with metabench evaluate first"])
    document = {
        "method": {
            "name": args.method,
            "authors": args.author,
            "contact": args.contact,
            "paper": args.paper,
            "code": args.code,
            "meta_train_steps": (
                result.agent.meta_train_steps if args.meta_train_steps is None else args.meta_train_steps
            ),
            "description": args.description,
        },
        "result": json.loads(result.to_json()),
        "summary": recomputed_summary(result),
    }
    from pydantic import ValidationError

    try:
        submission = Submission.model_validate(document)
    except ValidationError as error:
        from metabench.leaderboard.validate import _schema_problems

        raise SubmissionError(args.out, _schema_problems(error)) from None
    atomic_write_text(Path(args.out), submission.to_json() + "\n")
    console.print(
        f"wrote {escape(args.out)}; check it with 'metabench leaderboard validate {escape(args.out)}'"
    )
    return 0
