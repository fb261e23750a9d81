"""Tests of app.cases."""
