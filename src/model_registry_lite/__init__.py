"""mr-registry-lite: an embedded, spec-conformant Kubeflow Model Registry for development and tests."""
