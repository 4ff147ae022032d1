"""The ``outagecast`` command: parses arguments, calls one function, prints the result.

Heavy libraries are imported inside the commands so that ``outagecast --help`` stays instant.
Machine-readable output (``--json``) goes alone on stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(
    name="outagecast",
    help="Predict how long a cloud outage will last, and run that model in production.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """OutageCast command line."""
    from outagecast.settings import get_settings

    level = logging.DEBUG if verbose else getattr(logging, get_settings().log_level.upper(), logging.INFO)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # Secrets (API key, passwords in URLs, the webhook URL) are masked in every log record.
    from outagecast.redaction import install_log_redaction

    install_log_redaction(get_settings())


def _fail(message: str, code: int = 2) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def _print_json(obj: object) -> None:
    sys.stdout.write(json.dumps(obj, default=str) + "\n")


@app.command()
def generate(
    rows: Annotated[int, typer.Option(min=1, help="Number of incidents.")] = 50_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same file).")] = 42,
    out: Annotated[Path | None, typer.Option(help="CSV to write (default: the dataset path).")] = None,
) -> None:
    """Generate the synthetic 40-column outage dataset."""
    from outagecast.datasets.generate import write_dataset
    from outagecast.settings import get_settings

    path = write_dataset(out or get_settings().dataset_path, rows, seed, progress=True)
    typer.echo(f"wrote {rows} rows to {path}", err=True)


@app.command()
def split(
    input: Annotated[Path, typer.Option("--input", help="CSV to split.")],
    output: Annotated[Path, typer.Option("--output", help="Folder for batch_001.csv ...")],
    num_files: Annotated[int, typer.Option("--num-files", min=1, help="Number of batches.")] = 30,
) -> None:
    """Split a CSV round-robin into batch_001.csv, batch_002.csv, ..."""
    from outagecast.datasets.split import split_round_robin

    if not input.is_file():
        raise _fail(f"--input {input} does not exist")
    paths = split_round_robin(input, output, num_files)
    typer.echo(f"wrote {len(paths)} files to {output}", err=True)


@app.command()
def corrupt(
    input: Annotated[Path, typer.Option("--input", help="Clean CSV.")],
    output: Annotated[Path, typer.Option("--output", help="Corrupted CSV to write.")],
    probability: Annotated[float, typer.Option(min=0.0, max=1.0, help="Chance of each error.")] = 0.1,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
) -> None:
    """Inject the seven data-quality error types, recording what went where."""
    from outagecast.datasets.corrupt import corrupt_file

    if not input.is_file():
        raise _fail(f"--input {input} does not exist")
    report = corrupt_file(input, output, probability, seed=seed)
    typer.echo(f"wrote {output}; injected: {report}", err=True)


@app.command()
def train(
    data: Annotated[
        Path | None, typer.Option(help="Training CSV (default: the dataset, generated if missing).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as one JSON object.")] = False,
    compare: Annotated[
        bool, typer.Option(help="Also train the original RandomForest(100) on the same split.")
    ] = False,
) -> None:
    """Train the model, register it in MLflow and promote it if it passes the gate."""
    from outagecast.ml.bootstrap import train_and_register
    from outagecast.settings import get_settings

    if data is not None and not data.is_file():
        raise _fail(f"--data {data} does not exist")
    families = ("lgbm", "random_forest") if compare else ("lgbm",)
    results, decision = train_and_register(get_settings(), data=data, families=families, trigger="cli")
    keys = ("rmse", "mae", "r2", "oracle_rmse", "model_version", "n_train", "n_test")
    if as_json:
        _print_json({k: results[0].metrics[k] for k in keys})
        stream = sys.stderr
    else:
        stream = sys.stdout
    for result in results:
        m = result.metrics
        oracle = f"{m['oracle_rmse']:.4f}" if m.get("oracle_rmse") is not None else "n/a"
        print(
            f"{result.family:>14}: RMSE {m['rmse']:.4f} h  MAE {m['mae']:.4f} h  R² {m['r2']:.4f}  "
            f"oracle RMSE {oracle}  train {m['train_seconds']:.1f} s  version {m['model_version']}",
            file=stream,
        )
    typer.echo(f"gate: {decision.candidate_version} {decision.decision}: {decision.reason}", err=True)


@app.command()
def models(
    as_json: Annotated[bool, typer.Option("--json", help="Print versions and decisions as JSON.")] = False,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many versions and runs.")] = 20,
) -> None:
    """List the registered model versions, their metrics, the champion and the promotion decisions."""
    from outagecast.db import repository
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.db.session import make_engine, make_session_factory
    from outagecast.ml.registry import list_versions
    from outagecast.settings import get_settings

    settings = get_settings()
    versions = list_versions(settings, limit=limit)
    upgrade_to_head(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        with make_session_factory(engine)() as session:
            runs = [_run_dict(run) for run in repository.list_training_runs(session, limit=limit)]
    finally:
        engine.dispose()
    champion = next((v.version for v in versions if v.is_champion), None)
    if as_json:
        _print_json({"champion": champion, "versions": [v.as_dict() for v in versions], "runs": runs})
        return
    if not versions:
        typer.echo("no registered model versions yet: run `outagecast train`", err=True)
    for v in versions:
        m = v.metrics
        figures = "  ".join(
            f"{key} {m[key]:.4f}" for key in ("rmse", "reference_rmse", "inference_ms_per_row") if key in m
        )
        mark = "*" if v.is_champion else " "
        typer.echo(f"{mark} {v.version:<22} {v.created_at:%Y-%m-%d %H:%M}  {v.family or '?':<8} {figures}")
        if v.decision:
            typer.echo(f"    {v.decision}: {v.reason}")
    typer.echo("* = champion (served by the API)", err=True)


def _run_dict(run: object) -> dict:
    from sqlalchemy import inspect

    return {attr.key: getattr(run, attr.key) for attr in inspect(run).mapper.column_attrs}


@app.command()
def promote(
    version: Annotated[str, typer.Argument(help='Version to serve: 3 or "outage_duration/3".')],
    reason: Annotated[str, typer.Option(help="Why (stored with the decision).")],
) -> None:
    """Make a registered version the champion, overriding the gate (recorded as a manual decision)."""
    from outagecast.ml.bootstrap import promote_manually
    from outagecast.settings import get_settings

    try:
        before, after = promote_manually(get_settings(), version, reason=reason)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    except Exception as exc:  # e.g. no such version in the registry
        raise _fail(f"could not promote {version}: {exc}", code=1) from exc
    typer.echo(
        f"{after} is the champion (was {before or 'none'}); the API picks it up within "
        "MODEL_REFRESH_SECONDS, or at once with POST /reload-model",
        err=True,
    )


@app.command()
def migrate() -> None:
    """Apply the database migrations (also done at every API start)."""
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.settings import get_settings

    upgrade_to_head(get_settings().resolved_database_url)
    typer.echo("database at head", err=True)


def _repeat(
    run: Callable[[], Any], *, once: bool, as_json: bool, interval: float, describe: Callable[[Any], None]
) -> None:
    """Run a job once or every ``interval`` seconds: JSON or ``describe`` for each result, errors to stderr.

    The job's result has ``as_dict()``, ``errors`` and ``exit_code``; with ``once`` the command
    exits with that code.
    """
    import time

    while True:
        result = run()
        if as_json:
            _print_json(result.as_dict())
        else:
            describe(result)
        for error in result.errors:
            typer.echo(f"error: {error}", err=True)
        if once:
            raise typer.Exit(result.exit_code)
        try:
            time.sleep(interval)
        except KeyboardInterrupt:
            raise typer.Exit(0) from None


OnceOption = Annotated[bool, typer.Option("--once", help="One pass, then exit (else again every interval).")]
JsonOption = Annotated[bool, typer.Option("--json", help="Each run's result as JSON.")]
WaitOption = Annotated[float, typer.Option(min=0, help="Seconds to wait for a run in progress elsewhere.")]


@app.command()
def ingest(
    once: OnceOption = False,
    as_json: JsonOption = False,
    wait: WaitOption = 600.0,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many new files per run.")] = None,
) -> None:
    """Ingest DATA_DIR/raw_data: validate, route rows to good_data/bad_data, record statistics, alert.

    Exit status 0 when every file was handled (quarantined files included), 1 when the run could
    not run or stopped on an environment error (the file is back in raw_data/), 75 when another
    run kept the lock for --wait seconds.
    """
    from outagecast.pipelines.ingest import ingest_once
    from outagecast.settings import get_settings

    settings = get_settings()

    def describe(result: Any) -> None:
        for outcome in result.files:
            typer.echo(outcome.line())
        if result.status == "busy":
            typer.echo("another ingestion run is in progress; nothing done", err=True)
        elif not result.files and result.status == "ok":
            typer.echo("nothing to ingest", err=True)

    _repeat(
        lambda: ingest_once(settings, limit=limit, lock_timeout=wait),
        once=once,
        as_json=as_json,
        interval=settings.ingest_interval_seconds,
        describe=describe,
    )


@app.command()
def requeue(
    file: Annotated[str, typer.Argument(help="A quarantined file (name or path).")],
) -> None:
    """Send a quarantined file back to raw_data/ once fixed; the next ingestion run takes it again."""
    from outagecast.pipelines.ingest import requeue as requeue_file
    from outagecast.settings import get_settings

    try:
        target = requeue_file(get_settings(), file)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    typer.echo(f"requeued as {target}", err=True)


@app.command("predict-new")
def predict_new(once: OnceOption = False, as_json: JsonOption = False, wait: WaitOption = 600.0) -> None:
    """Send the good-data files not yet predicted to POST /predict (source=scheduled), exactly once.

    Exit status 0 when every file was predicted (or nothing was new), 1 when the API or the
    database was unavailable (files stay pending), 75 when another run kept the lock for --wait.
    """
    from outagecast.pipelines.predict_new import predict_new_once
    from outagecast.settings import get_settings

    settings = get_settings()

    def describe(result: Any) -> None:
        for outcome in result.files:
            typer.echo(outcome.line())
        if result.status == "busy":
            typer.echo("another scheduled prediction run is in progress; nothing done", err=True)
        elif result.status == "nothing_new":
            typer.echo("nothing new to predict", err=True)

    _repeat(
        lambda: predict_new_once(settings, lock_timeout=wait),
        once=once,
        as_json=as_json,
        interval=settings.predict_interval_seconds,
        describe=describe,
    )


@app.command()
def retrain(once: OnceOption = False, as_json: JsonOption = False, wait: WaitOption = 600.0) -> None:
    """Retrain when MIN_NEW_ROWS_FOR_TRAINING new good rows arrived: gate, promote or alert, archive.

    Exit status 0 when it trained or there was not enough new data, 1 on an environment error,
    75 when another run kept the lock for --wait seconds.
    """
    from outagecast.pipelines.retrain import retrain_once
    from outagecast.settings import get_settings

    settings = get_settings()

    def describe(result: Any) -> None:
        if result.status == "trained":
            verdict = "promoted" if result.promoted else "rejected"
            typer.echo(
                f"{result.model_version} {verdict} ({result.reason}); "
                f"trained on {result.training_rows} rows, "
                f"{result.new_rows} new; archived {len(result.archived)} file(s)"
                + (f"; reload: {result.reload}" if result.reload else "")
                + (f"; alert: {result.alert}" if result.alert else "")
            )
        elif result.status == "not_enough_data":
            needed = settings.min_new_rows_for_training
            typer.echo(f"{result.new_rows} new good rows, {needed} needed; not retrained", err=True)
        elif result.status == "busy":
            typer.echo("another retrain run is in progress; nothing done", err=True)

    _repeat(
        lambda: retrain_once(settings, lock_timeout=wait),
        once=once,
        as_json=as_json,
        interval=settings.retrain_interval_seconds,
        describe=describe,
    )


@app.command()
def monitor(once: OnceOption = False, as_json: JsonOption = False) -> None:
    """Compare the latest served predictions with the champion's training data; track realised error.

    Stores each run (monitor_runs, drift_results, realised_errors) and alerts when something
    drifted or a model's realised error degraded. Exit status 0 when the run completed (drift
    or not, or nothing to judge yet), 1 when it failed.
    """
    from outagecast.monitoring.job import run_monitor
    from outagecast.settings import get_settings

    settings = get_settings()

    def describe(report: Any) -> None:
        if report.status != "ok":
            typer.echo(f"monitor run {report.run_id}: {report.status}: {report.message}", err=True)
        else:
            verdict = "drift: " + ", ".join(report.drifted_features) if report.drift_detected else "no drift"
            if report.prediction_drift and report.prediction_drift["drifted"]:
                verdict += " (predictions drifted)"
            typer.echo(
                f"monitor run {report.run_id}: {report.window_rows} predictions vs "
                f"{report.model_version}: {verdict}"
            )
        for error in report.realised_error:
            mark = " DEGRADED" if error["degraded"] else ""
            typer.echo(
                f"  {error['model_version']}: realised MAE {error['mae']} h over "
                f"{error['matched_rows']} predictions (held-out {error['training_mae']}){mark}"
            )

    _repeat(
        lambda: run_monitor(settings),
        once=once,
        as_json=as_json,
        interval=settings.monitor_interval_seconds,
        describe=describe,
    )


@app.command()
def prune(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only show what would be deleted.")] = False,
    once: OnceOption = False,
    as_json: JsonOption = False,
    wait: WaitOption = 600.0,
) -> None:
    """Delete what is past its retention: old predictions and history, files, Data Docs, model versions.

    The RETENTION_* settings say how long each kind stays (0: forever); docs/deploy.md says what
    is always kept. Exit status 0 when done, 1 when a part failed (the others still ran), 75 when
    another run kept the lock for --wait seconds.
    """
    from outagecast.pipelines.prune import prune as prune_once
    from outagecast.settings import get_settings

    settings = get_settings()

    def describe(result: Any) -> None:
        if result.status == "busy":
            typer.echo("another prune run is in progress; nothing done", err=True)
            return
        verb = "would delete" if result.dry_run else "deleted"
        counts = {k: v for k, v in result.counts.items() if v and k != "data_docs_pages"}
        typer.echo(f"{verb}: " + (", ".join(f"{v} {k}" for k, v in counts.items()) or "nothing"))
        for version in result.model_versions:
            typer.echo(f"  model version {version}")

    _repeat(
        lambda: prune_once(settings, dry_run=dry_run, lock_timeout=wait),
        once=once or dry_run,  # a dry run is a look, not a loop
        as_json=as_json,
        interval=settings.prune_interval_seconds,
        describe=describe,
    )


def limit_native_threads(threads: int = 1) -> None:
    """Cap OpenMP/BLAS threads before numerical libraries load (stalls otherwise, DESIGN §5)."""
    for var in _THREAD_VARS:
        os.environ.setdefault(var, str(threads))


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the prediction API with uvicorn."""
    limit_native_threads(1)
    import uvicorn

    uvicorn.run(
        "outagecast.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
    )


@app.command()
def ui(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web app.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Serve the web app (Streamlit), talking to the API at API_URL."""
    from outagecast.settings import get_settings
    from outagecast.webapp.launch import run_ui

    settings = get_settings()
    key = settings.api_key.get_secret_value() if settings.api_key else None
    process = run_ui(port, settings.api_url, host=host, api_key=key)
    try:
        raise typer.Exit(process.wait())
    except KeyboardInterrupt:
        process.terminate()
        process.wait()


@app.command()
def up(
    api_port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API.")] = 8000,
    ui_port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the web app.")] = 8501,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
) -> None:
    """Start OutageCast on the embedded defaults: API (training a first model if needed) and web app."""
    from outagecast.runner import run_stack

    raise typer.Exit(run_stack(host=host, api_port=api_port, ui_port=ui_port))


if __name__ == "__main__":  # pragma: no cover - python -m outagecast.cli
    app()
