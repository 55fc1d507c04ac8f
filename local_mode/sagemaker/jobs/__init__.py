"""SageMaker jobs run on this machine: training, processing, tuning, batch transform."""
