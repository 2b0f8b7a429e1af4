"""Loads the rvconform plugin for runs from a checkout that is not installed."""

pytest_plugins = ["harness.plugin"]
