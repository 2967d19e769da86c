"""Prometheus alert rules and scrape config, the Grafana dashboard and links, built from release.yaml."""
