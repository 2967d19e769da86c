"""Production quality: the human review queue the gateway samples served answers into."""
