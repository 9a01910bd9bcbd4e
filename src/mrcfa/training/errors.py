# Copyright 2026 The mrcfa authors. Licensed under the Apache License, Version 2.0.
"""Mistakes in a training run's arguments or data, found before training starts, reported as one line."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator

from huggingface_hub.errors import StrictDataclassError

from ..errors import UsageError

__all__ = ["UsageError", "report_usage_errors", "usage_errors"]


@contextlib.contextmanager
def usage_errors() -> Iterator[None]:
    """Turn the `ValueError` / `FileNotFoundError` / config-validation error raised inside into `UsageError` (the
    library's user-error type, `mrcfa.errors.UsageError`).

    Wrap the checks and the set-up that run before training starts: an error there is the user's to fix (an argument,
    a path, the data), while one raised later is a failure that deserves its traceback -- except a bad frame or mask
    met while training or evaluating, which `MrcfaTrainer` raises as a `UsageError` itself.
    """
    try:
        yield
    except UsageError:
        raise
    except (ValueError, FileNotFoundError, NotADirectoryError, StrictDataclassError) as err:
        cause = err.__cause__ if isinstance(err, StrictDataclassError) and err.__cause__ else err
        raise UsageError(str(cause)) from err


def report_usage_errors(main: Callable[[], object], prog: str) -> int:
    """Run `main()`; a `UsageError` is printed as `{prog}: error: ...` (one line, no traceback) with exit status 2,
    as argparse reports a bad argument. Returns the exit status."""
    try:
        main()
    except UsageError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    return 0
