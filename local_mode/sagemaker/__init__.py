"""The local SageMaker: its API (`local_sagemaker`, `api_server`), the Step Functions bridge
(`tasks`), its jobs (`jobs/`) and serving (`serving/`)."""
