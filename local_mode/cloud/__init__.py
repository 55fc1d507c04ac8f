"""The local cloud: moto, `cdk deploy` into it, the deployed stack, in-process Lambdas, executions.

It does not import `local_mode.sagemaker`: SageMaker Tasks are plugged in (`LocalCloud(sagemaker=...)`).
"""
