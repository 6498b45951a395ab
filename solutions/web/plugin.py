"""The web solution plugin: started by the orchestrator as a script (see docs/plugins.md)."""

import sys

from webcheck.cli import plugin_main

if __name__ == "__main__":
    sys.exit(plugin_main())
