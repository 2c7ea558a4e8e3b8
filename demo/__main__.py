"""``python -m demo``: the demo's command line (from the repository root; not part of the installed ``psirf``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from demo.cli_mock_api import mock_api

app = typer.Typer(no_args_is_help=True, add_completion=False,
                  help="Demo scaffolding: generate the demo estate, serve the mock provider API.")


@app.command("feeds")
def feeds(home: Annotated[Path | None, typer.Option(help="default $PSIRF_HOME")] = None,
          incidents: Annotated[int, typer.Option(help="incidents per provider")] = 200) -> None:
    """Generate deterministic demo data for every registered provider, in its own source family."""
    from demo.sources import generate_demo
    from psirf import settings

    manifest = generate_demo(home or settings.psirf_home(), incidents_per_provider=incidents)
    for ods, info in manifest["providers"].items():
        if "lfpse" in info:
            files = ", ".join(f"{name} {f['rows_in']} rows" for name, f in info["lfpse"]["files"].items())
        elif "lfpse_national" in info:  # the trusts' national LFPSE record (feed X24): one export file
            national = info["lfpse_national"]
            files = f"{national['file']} {national['records']} records"
        else:
            files = ", ".join(f"{e} {f['rows_in']} rows" for e, f in info["files"].items())
        typer.echo(f"{ods}: {files}")


app.command("mock-api")(mock_api)

if __name__ == "__main__":
    app()
