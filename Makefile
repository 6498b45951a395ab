# The two commands: `make demo` and `make test`. Both bootstrap .venv with the pinned
# tools first (Python >= 3.11, git and make are all a fresh machine needs), then call
# the template's nox sessions, which run inside that .venv and install nothing.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
NOX := $(VENV)/bin/nox
GENERATED_REQUIREMENTS := {{cookiecutter.project}}/requirements.txt
# The solutions' own pins: Python packages (into .venv, like the generated repository's), and tools
# that need an environment of their own (solutions/<name>/tools/<tool>.txt -> .tools/<tool>/).
SOLUTION_REQUIREMENTS := $(wildcard solutions/*/requirements.txt)
SOLUTION_TOOLS := $(wildcard solutions/*/tools/*.txt)
# Named after the requirements' content: changing a pin re-installs, nothing else does.
STAMP := $(VENV)/.bootstrapped-$(shell cat requirements.txt "$(GENERATED_REQUIREMENTS)" $(SOLUTION_REQUIREMENTS) $(SOLUTION_TOOLS) | cksum | cut -d' ' -f1)
CODEX_VERSION := 0.169.0
CODEX_BIN := $(CURDIR)/.tools/node_modules/.bin/codex
CODEX_STAMP := .tools/.codex-$(CODEX_VERSION)

.PHONY: demo test lint bench bootstrap codex jail clean distclean

demo: jail bootstrap
	$(NOX) -s demo

# The codex executor tests use ORCH_CODEX_BIN; an ORCH_CODEX_BIN you set yourself wins.
test: jail bootstrap codex
	@if [ -z "$${ORCH_CODEX_BIN:-}" ] && [ -x "$(CODEX_BIN)" ]; then export ORCH_CODEX_BIN="$(CODEX_BIN)"; fi; \
	export ORCH_TOOLS_DIR="$${ORCH_TOOLS_DIR:-$(CURDIR)/.tools}"; \
	$(NOX) -s tests

lint: bootstrap
	$(NOX) -s lint

bench: bootstrap
	$(NOX) -s bench

bootstrap: $(STAMP)

# The orchestrator's jail is bubblewrap. Installed here where that needs no password (root, or
# passwordless sudo, with apt); otherwise nothing runs and the one command to run is printed.
jail:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" -eq 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=no; fi; \
	  if [ "$$sudo" != no ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing bubblewrap (the orchestrator's jail)"; \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 || \
	    { $$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	      $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap; }; \
	  fi; \
	  command -v bwrap >/dev/null 2>&1 || \
	    { echo "error: the orchestrator's jail needs bubblewrap; run: sudo apt-get install bubblewrap" >&2; exit 1; }; }

$(STAMP):
	@"$(PYTHON)" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || \
	  { echo "error: $(PYTHON) is missing or older than Python 3.11 (run: make PYTHON=/path/to/python3.11+)" >&2; exit 1; }
	@test -x $(VENV)/bin/python || "$(PYTHON)" -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  -r requirements.txt -r "$(GENERATED_REQUIREMENTS)" $(addprefix -r ,$(SOLUTION_REQUIREMENTS))
	@for pins in $(SOLUTION_TOOLS); do \
	  tool=$$(basename "$$pins" .txt); \
	  { test -x ".tools/$$tool/bin/python" || "$(PYTHON)" -m venv ".tools/$$tool"; } && \
	  ".tools/$$tool/bin/python" -m pip install --quiet --disable-pip-version-check -r "$$pins" || exit 1; \
	done
	@rm -f $(VENV)/.bootstrapped-* && touch $@

# The real Codex CLI, pinned, for the codex executor tests; they skip when npm is absent.
codex: $(if $(wildcard $(CODEX_STAMP)),,codex-install)

.PHONY: codex-install
codex-install:
	@if command -v npm >/dev/null 2>&1; then \
	  echo "installing @openai/codex@$(CODEX_VERSION) into .tools/"; \
	  npm install --prefix .tools --no-audit --no-fund --loglevel=error "@openai/codex@$(CODEX_VERSION)" && \
	  touch "$(CODEX_STAMP)"; \
	else \
	  echo "note: npm not found, so the Codex CLI is not installed and the codex executor tests will be skipped"; \
	fi

clean:
	rm -rf build .nox .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -not -path './.venv/*' -not -path './.tools/*' -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) .tools
