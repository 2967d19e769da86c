"""The rollback drill and canary steps: the sequential judge, the rollout loop, the drill, demo traffic and evidence."""
