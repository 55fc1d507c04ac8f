"""Local mode: run the synthesized workflows on one machine (moto's Step Functions interpreter).

Kept light on purpose: import the submodules you need (`local_mode.local_cloud`,
`local_mode.template`, `local_mode.iam_check`, ...); moto is imported only by `moto_hooks` and
`local_cloud`.
"""
