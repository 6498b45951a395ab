"""vulnapp: a small user directory with a search endpoint, shipped vulnerable on purpose.

`search_users` builds its SQL from the query string (SQL injection) and
`load_settings` parses YAML with the unsafe loader (code execution). The task pack
taskpacks/fix-sql-injection fixes both; src/tests/exploits.py proves the attacks.
"""

from vulnapp.app import application, load_settings, make_db, search_users

__all__ = ["application", "load_settings", "make_db", "search_users"]
