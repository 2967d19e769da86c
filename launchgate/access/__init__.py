"""Client API keys (registry, hashes, scopes, limits) and the gateway secrets' rotation records.

The registry lives in the artifact store (``layout.api_keys``) and is only ever written through
``ArtifactStore.update``; the gateway reads it (gateway/clientauth.py), ``launchgate keys`` writes it
(cli/keys.py), docs/access.md says who may do what.
"""
