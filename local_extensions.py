"""Jinja extension that tells hooks where the template lives, as an absolute path.

Hooks run from a temporary copy, and cookiecutter's `_repo_dir` is relative for a
relative template path, so neither tells a hook where `solutions/` is. Cookiecutter
renders every hook with the working directory set to the template root (the local
directory, or its clone of a git URL), and creates a fresh Jinja environment for it:
that directory is captured here. The module's own location is the fallback, but not
the first choice: in a long-lived process (pytest-cookies, an API caller baking from
several sources) Python keeps the first `local_extensions` it imported, whichever
template that was.
"""

from pathlib import Path

from jinja2 import Environment
from jinja2.ext import Extension


def template_root() -> str:
    here = Path.cwd()
    if (here / "cookiecutter.json").is_file() and (here / "local_extensions.py").is_file():
        return str(here.resolve())
    return str(Path(__file__).resolve().parent)


class TemplateRoot(Extension):
    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.globals["template_root"] = template_root()
