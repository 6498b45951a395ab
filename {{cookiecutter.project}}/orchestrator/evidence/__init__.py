"""A run's evidence: the index and its seal (`index`), the attestation, the repository-wide
store behind `evidence query` (`store`) and the query/verify command line (`query`)."""
