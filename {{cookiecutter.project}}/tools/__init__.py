"""Development tools of the orchestrated repository, outside the engine package: benchmarks
(`python -m tools.bench`, `nox -s bench`) and the schema-doc generator (`python -m tools.schemadoc`)."""
