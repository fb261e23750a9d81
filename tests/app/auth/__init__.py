"""Tests of app.auth."""
