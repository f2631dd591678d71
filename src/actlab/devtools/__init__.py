"""Developer tools: the benchmark, its plain-Keras baseline and the MLflow UI check."""
