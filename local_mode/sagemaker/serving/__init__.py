"""SageMaker serving: the TensorFlow Serving emulation and the endpoint server."""
