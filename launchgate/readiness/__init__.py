"""The readiness review: every item of the two readiness checklists, owned, evidenced, and gating.

``catalogue.yaml`` lists the items (shipped with the package); ``checks`` holds one pure function
per automated check over an ``Evidence`` snapshot (``evidence.py`` gathers it from the release
bundle, the store, the config and a loopback probe); ``attestations`` records who vouched for what;
``review`` combines them into a ``ReadinessReport`` and is the release step's core function.
"""
