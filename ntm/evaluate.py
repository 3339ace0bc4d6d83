"""Generalisation to longer sequences: ``python -m ntm.evaluate RUN_DIR`` (or ``ntm-evaluate``).

The command line only; the code is in ``ntm.results.evaluate``.
"""

from ntm.results.evaluate import main

__all__ = ["main"]

if __name__ == "__main__":
    main()
