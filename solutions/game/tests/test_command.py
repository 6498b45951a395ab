"""The command protocol: any engine that reads the inputs file and prints one JSON line per tick."""

from __future__ import annotations

from .conftest import FAST_SEEDS

# A POSIX shell "engine": its state is the running total of the inputs' lengths.
SHELL_GAME = r"""#!/bin/sh
n=0
total=0
while IFS= read -r line; do
  total=$((total + ${#line}))
  hash="total-$total"
  if [ -n "$DIVERGE_AT" ] && [ "$n" -ge "$DIVERGE_AT" ]; then hash="$hash-$PYTHONHASHSEED"; fi
  echo "log line the plugin ignores"
  printf '{"tick": %d, "state_hash": "%s", "ms": 0.25}\n' "$n" "$hash"
  n=$((n + 1))
done < "$1"
"""


def shell_game(diverge_at: int | None = None) -> dict[str, str]:
    text = (
        SHELL_GAME
        if diverge_at is None
        else SHELL_GAME.replace("#!/bin/sh\n", f"#!/bin/sh\nDIVERGE_AT={diverge_at}\n")
    )
    return {"engine/game.sh": text}


def test_a_shell_program_speaking_the_protocol_passes(workspace, plugin) -> None:
    ws = workspace(files=shell_game())
    outcome = plugin(
        ws,
        {
            "command": ["sh", "engine/game.sh", "{inputs}", "{seed}", "{not-a-placeholder}"],
            "replay": "replays/toy.jsonl",
            "hash_seeds": FAST_SEEDS,
            "tick_budget_ms": 16,
        },
    )
    assert outcome.result["status"] == "passed", outcome.result
    assert outcome.details["mode"] == "command"
    assert outcome.result["metrics"]["ticks"] == 60
    assert outcome.details["budget"]["p95_ms"] == 0.25


def test_a_shell_program_that_diverges_is_caught_at_its_tick(workspace, plugin) -> None:
    ws = workspace(files=shell_game(diverge_at=5))
    outcome = plugin(
        ws,
        {
            "command": ["sh", "engine/game.sh", "{inputs}"],
            "replay": "replays/toy.jsonl",
            "hash_seeds": FAST_SEEDS,
        },
    )
    assert outcome.result["status"] == "failed"
    assert outcome.details["divergence"]["tick"] == 5
    assert outcome.result["findings"][0]["line"] == 6
    assert "no snapshot" in outcome.details["divergence"]["note"]


def test_a_program_that_skips_a_tick_breaks_the_protocol(workspace, plugin) -> None:
    skipping = {
        "engine/skip.sh": '#!/bin/sh\necho \'{"tick": 0, "state_hash": "a", "ms": 1}\'\n'
        'echo \'{"tick": 2, "state_hash": "b", "ms": 1}\'\n'
    }
    outcome = plugin(
        workspace(files=skipping, ticks=3),
        {"command": ["sh", "engine/skip.sh"], "replay": "replays/toy.jsonl", "hash_seeds": FAST_SEEDS},
    )
    assert outcome.result["status"] == "failed"
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "game-error"
    assert "tick 1" in finding["message"] and "protocol" in finding["message"]


def test_a_program_that_stops_early_is_a_game_error(workspace, plugin) -> None:
    short = {"engine/short.sh": '#!/bin/sh\necho \'{"tick": 0, "state_hash": "a", "ms": 1}\'\n'}
    outcome = plugin(
        workspace(files=short, ticks=3),
        {"command": ["sh", "engine/short.sh"], "replay": "replays/toy.jsonl", "hash_seeds": FAST_SEEDS},
    )
    [finding] = outcome.result["findings"]
    assert finding["rule"] == "game-error" and "printed 1 tick(s), the inputs have 3" in finding["message"]


def test_a_missing_program_is_a_game_error_not_a_crash(workspace, plugin) -> None:
    outcome = plugin(
        workspace(),
        {"command": ["./no-such-engine"], "replay": "replays/toy.jsonl", "hash_seeds": FAST_SEEDS},
    )
    assert outcome.exit_code == 0
    [finding] = outcome.result["findings"]
    assert "cannot start ./no-such-engine" in finding["message"]
