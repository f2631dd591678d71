"""The article's claims: a shared base (runs table, tests, stability) and the registry of claim files."""
