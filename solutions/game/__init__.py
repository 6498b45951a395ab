"""The game solution: deterministic replay, divergence pinned to the tick, golden replays, a tick budget.

`plugin.py` is the plugin the orchestrator runs; `python -m solutions.game record` writes a
golden file. See README.md.
"""
