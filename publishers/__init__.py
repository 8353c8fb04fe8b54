"""The built-in publishers of samverkan; third-party ones register under the entry-point
group ``samverkan.publishers`` exactly as these do (see pyproject.toml)."""
