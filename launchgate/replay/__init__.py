"""Replay logged production requests against a version and report the output deltas per field."""
