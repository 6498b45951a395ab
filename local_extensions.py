"""Jinja extension that tells hooks where the template lives, as an absolute path.

Cookiecutter imports `_extensions` from the template root, so `__file__` here is
reliable for a relative path, an absolute path, a git clone and pytest-cookies alike.
"""

from pathlib import Path

from jinja2.ext import Extension


class TemplateRoot(Extension):
    def __init__(self, environment):  # noqa: ANN001 - Jinja's signature
        super().__init__(environment)
        environment.globals["template_root"] = str(Path(__file__).resolve().parent)
