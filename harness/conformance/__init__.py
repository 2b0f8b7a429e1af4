"""Checks on what an image holds, read from its layer blobs without a container engine."""
