"""Pictures of a trained run: ``python -m ntm.plot RUN_DIR`` (or ``ntm-plot``).

The command line only; the code is in ``ntm.results.plot``.
"""

from ntm.results.plot import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
