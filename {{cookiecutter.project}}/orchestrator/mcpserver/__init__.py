"""The control plane's door: an MCP server (`python -m orchestrator mcp`) over the engine.

`tools` holds what a control plane can do, as plain functions; `proposals` checks and commits
task packs written as text; `jobs` runs packs in the background; `audit` logs every call and
rate-limits clients; `server` wires them into the official MCP SDK over stdio or HTTP; `draft`
asks a model for a first pack from an objective.
"""
