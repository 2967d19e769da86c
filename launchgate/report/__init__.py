"""The HTML release report: report.html, one self-contained page per release bundle."""
