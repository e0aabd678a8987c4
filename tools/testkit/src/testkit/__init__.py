"""Campaign Builder test tooling: fakes of external services that speak their real protocols."""
