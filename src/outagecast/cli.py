"""The ``outagecast`` command: parses arguments, calls one function, prints the result.

Heavy libraries are imported inside the commands so that ``outagecast --help`` stays instant.
Machine-readable output (``--json``) goes alone on stdout; logs go to stderr.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated

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
    """Train the model, report its quality against the oracle, and save it for the API."""
    from outagecast.ml.bootstrap import train_and_save
    from outagecast.settings import get_settings

    if data is not None and not data.is_file():
        raise _fail(f"--data {data} does not exist")
    families = ("lgbm", "random_forest") if compare else ("lgbm",)
    results = train_and_save(get_settings(), data=data, families=families)
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


@app.command()
def migrate() -> None:
    """Apply the database migrations (also done at every API start)."""
    from outagecast.db.migrate import upgrade_to_head
    from outagecast.settings import get_settings

    upgrade_to_head(get_settings().resolved_database_url)
    typer.echo("database at head", err=True)


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
