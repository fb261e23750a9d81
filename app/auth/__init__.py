"""Authentication (bearer tokens, login slowdown) and access scoping for the API."""
