"""``python -m demo mock-api``: serve the demo providers' records over HTTP, in the foreground, until Ctrl-C or SIGTERM.

``make run`` starts it in the background with ``--port 0 --port-file FILE``, reads the chosen port from FILE, and
stops it with SIGTERM. The credentials it accepts are demo values from the environment (``PSIRF_MOCK_API_TOKEN``,
``PSIRF_MOCK_API_KEY``, ``PSIRF_MOCK_API_CLIENT_ID``, ``PSIRF_MOCK_API_CLIENT_SECRET``; defaults ``demo-…``), so
a connector is configured exactly as for a real provider: through its connection.

Run without the main CLI: ``python -m demo.cli_mock_api --help``.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

DEMO_CREDENTIALS = {
    "PSIRF_MOCK_API_TOKEN": "demo-bearer-token",
    "PSIRF_MOCK_API_KEY": "demo-api-key",
    "PSIRF_MOCK_API_CLIENT_ID": "demo-client",
    "PSIRF_MOCK_API_CLIENT_SECRET": "demo-client-secret",
}


def _env(name: str) -> str:
    return os.environ.get(name) or DEMO_CREDENTIALS[name]


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=2)


def _pagination(values: list[str]) -> tuple[str, dict[str, str]]:
    from demo.mock_provider_api import PAGINATION_STYLES

    default, per_provider = "cursor", {}
    for value in values:
        ods, _, style = value.rpartition("=")
        if style not in PAGINATION_STYLES:
            _fail(f"--pagination {value!r}: style must be one of {list(PAGINATION_STYLES)} (optionally ODS=STYLE)")
        if ods:
            per_provider[ods.strip().upper()] = style
        else:
            default = style
    return default, per_provider


def mock_api(
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port; 0 picks a free one (see --port-file)")] = 8765,
    home: Annotated[Path | None, typer.Option(help="PSIRF home holding demo_feeds/ (default $PSIRF_HOME or ./var)")]
    = None,
    feeds_dir: Annotated[Path | None, typer.Option(help="folder of <ODS>/ feed folders (default HOME/demo_feeds)")]
    = None,
    provider: Annotated[list[str] | None, typer.Option("--provider", "-p", help="ODS code(s) to serve; all if none")]
    = None,
    profile: Annotated[str, typer.Option(help="mapping profile naming each entity's key and cursor columns")]
    = "datix_cloud_listing_v1",
    pagination: Annotated[list[str] | None, typer.Option(
        help="page_number | offset | cursor | next_link, or ODS=STYLE for one provider (repeatable)")] = None,
    page_size: Annotated[int, typer.Option(min=1, help="page size when a request names none")] = 50,
    auth: Annotated[bool, typer.Option("--auth/--no-auth", help="require a demo token, API key or OAuth2 token")]
    = True,
    port_file: Annotated[Path | None, typer.Option(help="write the port here once listening (removed on exit)")]
    = None,
    rate_limit: Annotated[int, typer.Option(min=0, help="fault: the next N data requests get 429")] = 0,
    retry_after: Annotated[int, typer.Option(min=0, help="Retry-After seconds sent with each 429")] = 1,
    error_burst: Annotated[int, typer.Option(min=0, help="fault: the next N data requests get --error-status")] = 0,
    error_status: Annotated[int, typer.Option(min=500, max=599)] = 500,
    slow: Annotated[float, typer.Option(min=0.0, help="fault: seconds to wait before every data response")] = 0.0,
    malformed: Annotated[str | None, typer.Option(
        help="fault: bad_json | html | missing_paging | missing_records | wrong_types")] = None,
    malformed_after: Annotated[int, typer.Option(min=0, help="good pages before the malformed ones")] = 0,
    insert_after_page: Annotated[int | None, typer.Option(min=1, help="fault: a new record appears after page k")]
    = None,
    unauthorized: Annotated[bool, typer.Option(help="fault: answer every data and token request with 401")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="log every request")] = False,
) -> None:
    """Serve the demo providers' records as a provider REST API (faults switchable here or via POST /_admin/faults)."""
    from demo.mock_provider_api import Faults, MockAuth, load_demo_providers, start
    from psirf import settings
    from psirf.errors import PsirfError

    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(message)s")
    default_style, per_provider = _pagination(pagination or [])
    feeds = feeds_dir or (home or settings.psirf_home()) / "demo_feeds"
    try:
        faults = Faults.from_dict({
            "rate_limit": rate_limit, "retry_after": retry_after, "error_burst": error_burst,
            "error_status": error_status, "slow_seconds": slow, "malformed": malformed,
            "malformed_after": malformed_after, "insert_after_page": insert_after_page, "unauthorized": unauthorized})
        providers = load_demo_providers(feeds, profile_name=profile, ods_codes=provider, pagination=per_provider,
                                        default_pagination=default_style)
    except (ValueError, FileNotFoundError, PsirfError) as exc:
        _fail(str(exc))
    if not providers:
        _fail(f"no provider feed files under {feeds} (run `python -m demo feeds` first)")
    for p in providers.values():
        p.page_size = page_size
    mock_auth = MockAuth(required=auth, bearer_tokens=frozenset({_env("PSIRF_MOCK_API_TOKEN")}),
                         api_keys=frozenset({_env("PSIRF_MOCK_API_KEY")}),
                         clients={_env("PSIRF_MOCK_API_CLIENT_ID"): _env("PSIRF_MOCK_API_CLIENT_SECRET")})
    try:
        server = start(host, port, providers, auth=mock_auth, faults=faults, verbose=verbose)
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    stop = threading.Event()

    def _on_signal(signum: int, frame: Any) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, _on_signal)
    try:
        if port_file is not None:
            port_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = port_file.with_suffix(port_file.suffix + ".tmp")
            tmp.write_text(f"{server.port}\n", encoding="utf-8")
            tmp.replace(port_file)  # atomic: a reader never sees a half-written port
        typer.echo(f"mock provider API listening on {server.url} (providers: {', '.join(sorted(providers))}; "
                   f"e.g. {server.provider_url(sorted(providers)[0])}/incidents); Ctrl-C to stop")
        while not stop.wait(0.2):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
        if port_file is not None:
            port_file.unlink(missing_ok=True)
    typer.echo("mock provider API stopped")


if __name__ == "__main__":
    typer.run(mock_api)
