"""Declared checks: generic functional and structure checks read from image.toml and container-structure-test
files, and how each is run against a board or an image."""
