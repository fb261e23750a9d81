"""Tests of app.api."""
