"""CDK stacks of the app."""
