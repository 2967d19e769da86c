"""Data lifecycle: retention (retention.py), deletion and export by subject (subjects.py over the
row sources in rows.py), erasure records that keep bundle indexes verifiable (erasure.py), and the
store operations beyond the ArtifactStore protocol that these need (backend.py, s3rules.py)."""
