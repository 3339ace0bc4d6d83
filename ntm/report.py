"""Seed statistics of a sweep: ``python -m ntm.report SWEEP_DIR`` (or ``ntm-report``).

The command line only; the code is in ``ntm.results.report``.
"""

from ntm.results.report import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
