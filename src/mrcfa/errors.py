# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""The one error type for a user's mistake: a bad argument, a missing or unwritable path, a model that is not MRCFA.

Library code raises `UsageError` with a message that says what was wrong and what is expected, on one line; each
front end reports it its own way: the `mrcfa` command prints `mrcfa <subcommand>: error: <message>` and exits with
status 2, `scripts/run_vss.py` does the same (`mrcfa.training.report_usage_errors`), the app shows the message in the
page. It is a `ValueError`, so that code catching those still catches it.
"""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(ValueError):
    """A mistake in what a user gave (an argument, a path, a file, a model): its message is one readable line, shown
    without a traceback."""
