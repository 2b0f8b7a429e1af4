"""The conformance suites: what rvconform checks on every image, on every board."""
