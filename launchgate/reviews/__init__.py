"""The scheduled reviews: weekly drift, monthly cost, post-launch; their config sections, charts and shared writing."""
