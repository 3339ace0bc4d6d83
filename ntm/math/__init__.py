"""The paper's equations as pure functions: addressing (eqs. 5-9) and memory (eqs. 2-4).

Nothing here imports anything else of ``ntm``.
"""
