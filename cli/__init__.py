"""The `riskmap` command line."""
