"""The stack's components: each construct owns its resources and exposes narrow attributes."""
