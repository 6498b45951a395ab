"""Minimal post-generation hook (to be completed): git init and an initial commit."""
import json
import subprocess

ANSWERS = json.loads(r"""{{ cookiecutter | tojson }}""")
subprocess.run(["git", "init", "-q", "-b", ANSWERS["base_branch"]], check=True)
subprocess.run(["git", "add", "-A"], check=True)
subprocess.run(["git", "-c", "user.name=Orchestrator", "-c", "user.email=orchestrator@localhost",
                "commit", "-q", "-m", "Initial commit from the Codex Orchestrator template"], check=True)
