"""Demo and test scaffolding, kept out of the product: not installed with ``pip install .``.

- :mod:`demo.feeds` — deterministic Datix-style CSV exports with planted defects;
- :mod:`demo.lfpse` — LFPSE FHIR exports for GP practices;
- :mod:`demo.sources` — the demo estate: every registered provider's data in its own source family;
- :mod:`demo.mock_provider_api` — a fault-injecting local provider API (the REST family's counterpart);
- :mod:`demo.cli_mock_api` — the server's command line.

Run from the repository root: ``python -m demo feeds`` (generate the demo estate) and ``python -m demo mock-api``
(serve the REST providers); ``make run``, ``make distributed``, the bench and the tests do.
"""
