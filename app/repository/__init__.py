"""Data access, one module per table; every function takes the session it works in."""
