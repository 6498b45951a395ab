"""The security plugin's parts: change extraction, the scanners, the baseline comparison and SARIF."""
