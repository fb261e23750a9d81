"""Tests of app.tasks."""
