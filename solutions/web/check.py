"""`python -m solutions.web.check [ROOT]`: the plugin's checks from the command line."""

import sys

if __package__:
    from .webcheck.cli import main
else:  # run as a script: python solutions/web/check.py
    from webcheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
