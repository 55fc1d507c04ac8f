"""Local mode: deploy the app into a local account (moto) and run its workflows on one machine.

Kept light on purpose: import the submodules you need. Packages, by what they emulate
(docs/architecture.md, "Layout"): `cloud` (moto, the deployed stack, in-process Lambdas,
executions), `sagemaker` (the API, `jobs`, `serving`), `checks` (IAM, API shapes) and `demo`;
`session` composes the cloud and SageMaker. The cloud does not import SageMaker
(tests/local/test_layout.py); moto is imported only under `cloud`.
"""
